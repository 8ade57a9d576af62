"""The widget's HTML around the words every face shares: the live line
(:func:`loadnb.results.words.live_line`) escaped in a monospace ``<div>``, the state badge
(:func:`loadnb.results.words.badge`) as a coloured pill, messages and folded tracebacks. The
text is the shared one, as it is: this module adds markup, never words or numbers."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from ..charts import palette
from ..metrics.snapshot import Snapshot
from ..results.words import badge, live_line


def html_line(text: str, *, color: str | None = None, bold: bool = False,
              mono: bool = False) -> str:
    """``text`` escaped and wrapped in a styled ``<div>`` for an ``ipywidgets.HTML``."""
    style = []
    if color:
        style.append(f"color:{color}")
    if bold:
        style.append("font-weight:600")
    if mono:
        style.append("font-family:var(--jp-code-font-family,monospace)")
    attr = f' style="{";".join(style)}"' if style else ""
    return f"<div{attr}>{html.escape(text)}</div>"


def metrics_html(snap: Snapshot | None, state: str = "running",
                 iterations: Mapping[str, Sequence[int]] | None = None) -> str:
    """The widget's live line: :func:`~loadnb.results.words.live_line`, bold and monospace."""
    return html_line(live_line(snap, state, iterations), bold=True, mono=True)


def badge_html(state: str) -> str:
    """The state badge: the state's words, white on its colour
    (:func:`loadnb.results.words.badge`).

    >>> badge_html("running")  # doctest: +ELLIPSIS
    '<span class="loadnb-state loadnb-state-running" ...>RUNNING</span>'
    """
    text, color = badge(state)
    style = (f"background:{color};color:{palette.ON_COLOUR};font-weight:700;font-size:11px;"
             "letter-spacing:0.05em;padding:2px 8px;border-radius:10px;"
             "font-family:var(--jp-ui-font-family,sans-serif);white-space:nowrap")
    name = html.escape(state)
    return (f'<span class="loadnb-state loadnb-state-{name}" title="{name}" '
            f'style="{style}">{html.escape(text)}</span>')


def html_details(summary_text: str, body: str, *, color: str = palette.ERROR) -> str:
    """A collapsible block (e.g. an error with its traceback folded away)."""
    return (f'<details style="color:{color}"><summary>{html.escape(summary_text)}</summary>'
            f'<pre style="white-space:pre-wrap;font-size:11px">{html.escape(body)}</pre></details>')


__all__ = ["badge_html", "html_details", "html_line", "metrics_html"]
