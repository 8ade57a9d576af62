"""A jupyter_bokeh ``BokehModel`` that does not apply the browser's echo of kernel-side changes.

jupyter_bokeh 4.1 sends every kernel-side document change (``source.stream``, ``patch``, property
changes) to the browser; the browser applies it and, because the change happened in its document,
sends it straight back. The stock model then applies that echo again on the kernel side, so every
streamed batch ends up twice in the kernel's ``ColumnDataSource``. :class:`LiveBokehModel` drops
the echoed kinds (data streams, patches, property changes) and keeps the rest: UI events
(``MessageSent``) and the selected tab of a ``Tabs`` layout (so re-sending the document at the end
of a run keeps the tab the user is looking at).
"""

from __future__ import annotations

from typing import Any

from bokeh.models import LayoutDOM
from jupyter_bokeh import BokehModel

#: Browser → kernel event kinds that only ever echo what the kernel did.
ECHO_KINDS = frozenset({"ColumnsStreamed", "ColumnsPatched", "ModelChanged"})
#: Property changes the user makes in the browser that the kernel should learn about.
USER_ATTRS = frozenset({"active"})


def _is_echo(content: dict[str, Any]) -> bool:
    """Whether a message from the browser is an echo of a kernel-side change (to be ignored)."""
    if content.get("event") != "jsevent" or content.get("kind") not in ECHO_KINDS:
        return False
    return not (content.get("kind") == "ModelChanged" and content.get("attr") in USER_ATTRS)


class LiveBokehModel(BokehModel):  # type: ignore[misc]
    """``BokehModel`` for documents that the kernel streams into (see module docstring).

    Example::

        source = ColumnDataSource({"x": [], "y": []})
        fig = figure(); fig.line("x", "y", source=source)
        view = LiveBokehModel(fig)            # display it, or put it in an ipywidgets box
        source.stream({"x": [1], "y": [2]}, rollover=2000)   # reaches the page once
    """

    def __init__(self, model: LayoutDOM, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        #: Browser messages dropped as echoes (for tests and diagnostics).
        self.echoes_ignored = 0
        #: Whether the document changed since ``render_bundle`` was last made.
        self.dirty = False

    def _sync_model(self, model: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        if _is_echo(content):
            self.echoes_ignored += 1
            return
        super()._sync_model(model, content, buffers)

    def _document_patched(self, event: Any) -> None:
        self.dirty = True
        super()._document_patched(event)

    def resend(self) -> None:
        """Send the whole document again (the page and saved widget state get the current data).

        The document is serialized again only if it changed since the last time; otherwise the
        current ``render_bundle`` is sent as it is.
        """
        if self.dirty:
            self.dirty = False
            self.update_from_model(self._model)  # a new value: traitlets sends it
        else:
            self.send_state("render_bundle")


def resend_tree(root: Any, chart: LiveBokehModel) -> None:
    """Re-send the state of ``root`` (an ipywidgets widget) and of every widget inside it, and
    ``chart``'s whole document: the page and the saved notebook get the current values."""
    import ipywidgets as W

    chart.resend()
    stack: list[W.Widget] = [root]
    while stack:
        widget = stack.pop()
        if widget is not chart:
            widget.send_state()
        for extra in ("layout", "style"):
            sub = getattr(widget, extra, None)
            if isinstance(sub, W.Widget):
                sub.send_state()
        stack.extend(getattr(widget, "children", ()))


__all__ = ["LiveBokehModel", "resend_tree"]
