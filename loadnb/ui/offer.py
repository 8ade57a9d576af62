"""The widget's offer to run in a worker process: when a run on the kernel's own event loop fires
a generator-health alert (``generator_lag``: the loop runs late; ``generator_cpu``: the process
uses a whole core), the kernel, not the target, is the bottleneck. The offer says so, with one
button: the test then runs with ``workers=1`` — in a Dask worker process of its own (its own
uvloop loop, the fast transport), on the cluster the kernel keeps
(:mod:`loadnb.ui.kernel_cluster`).
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as W

from ..charts import palette
from ..record.update import Update
from ..spec.config import LoadSpec

#: The alert rules that say the generator (here: the kernel's own loop) is the bottleneck.
OFFER_RULES: tuple[str, ...] = ("generator_lag", "generator_cpu")
OFFER_TEXT = "The notebook's loop is the bottleneck — run in a worker process"


def in_kernel(spec: LoadSpec) -> bool:
    """Whether a run of ``spec`` generates its load on the kernel's own loop (no Dask)."""
    return spec.workers is None and spec.cluster is None


class WorkerOffer:
    """The offer (``box``, hidden until an alert of :data:`OFFER_RULES` fires in a run on the
    kernel's loop) and its button, which calls ``accept``."""

    def __init__(self, accept: Callable[[], None]) -> None:
        self.text = W.HTML(
            f"<span style='color:{palette.WARNING};font-weight:600'>⚡ "
            f"{html.escape(OFFER_TEXT, quote=False)}</span> <span style='color:{palette.MUTED}'>"
            "(<code>workers=1</code>: the same test in a process of its own, on a Dask cluster "
            "kept for this kernel)</span>")
        self.button = W.Button(description="Run in a worker process", button_style="warning",
                               icon="rocket", layout=W.Layout(width="auto"),
                               tooltip="Stop this run and start the same test with workers=1")
        self.box = W.HBox([self.button, self.text],
                          layout=W.Layout(display="none", align_items="center"))
        self.button.on_click(lambda _button: accept())

    @property
    def visible(self) -> bool:
        """Whether the offer is shown."""
        return bool(self.box.layout.display != "none")

    def consider(self, update: Update, spec: LoadSpec) -> None:
        """Show the offer when ``update`` fired an alert of :data:`OFFER_RULES` in a run of
        ``spec`` on the kernel's own loop."""
        if in_kernel(spec) and any(event.rule in OFFER_RULES for event in update.fired):
            self.box.layout.display = "flex"

    def hide(self) -> None:
        """Hide the offer (a new run starts, or it was taken)."""
        self.box.layout.display = "none"


__all__ = ["OFFER_RULES", "OFFER_TEXT", "WorkerOffer", "in_kernel"]
