"""The widget's alert area: the run record's alert events and warnings, as HTML.

The rules live in the core (:mod:`loadnb.alerts`) and are judged on every snapshot by the run's
alert engine; this module only shows what the record holds: alerts firing now (bold), alerts that
fired and cleared earlier (with when), and the run's warnings. The state is said in words as well
as in colour.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..alerts import AlertEvent

WARNING_COLOR = "#8a5300"


def _when(event: AlertEvent) -> str:
    if event.cleared_at is None:
        return f"active since {event.fired_at:.1f} s"
    return f"from {event.fired_at:.1f} s to {event.cleared_at:.1f} s — cleared"


def alerts_html(events: Sequence[AlertEvent], warnings: Sequence[str]) -> str:
    """The alert area's HTML ("" when there is nothing to say)."""
    lines = []
    for event in events:
        style = "font-weight:600" if event.active else "opacity:0.75"
        lines.append(f"<div style='{style}'>⚠️ {html.escape(event.message)} "
                     f"<span style='font-weight:400'>({html.escape(event.rule)}, "
                     f"{_when(event)})</span></div>")
    lines += [f"<div>⚠️ {html.escape(w)}</div>" for w in warnings]
    body = "".join(lines)
    return (f"<div style='color:{WARNING_COLOR};background:#fff8e1;padding:4px 8px;"
            f"border-left:3px solid #f0a000'>{body}</div>") if body else ""
