"""The widget's alert area: the run record's alert events and warnings, as HTML.

The rules live in the core (:mod:`loadnb.rules.alerts`) and are judged on every snapshot by the
run's alert engine; this module only shows what the record holds: alerts firing now (bold), alerts
that fired and cleared earlier (with when), and the run's warnings. The state is said in words as
well as in colour. Under it, the thresholds table (:func:`thresholds_html`): the run record's live
pass/fail judgement of each threshold.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ..charts import palette
from ..rules.alert_engine import AlertEvent
from ..text.numbers import is_number, trimmed


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
    return (f"<div style='color:{palette.WARNING};background:{palette.WARNING_BACKGROUND};"
            f"padding:4px 8px;border-left:3px solid {palette.WARNING_EDGE}'>{body}</div>"
            ) if body else ""


def _observed(value: Any) -> str:
    if is_number(value) or value is None:
        return trimmed(value)
    return html.escape(str(value))


def thresholds_html(items: Sequence[Mapping[str, Any]]) -> str:
    """The thresholds table's HTML: one row per ``{"expr", "observed", "passed"}`` with
    "✓ pass" (green), "✗ fail" (red) or "…" (not judged yet); "" when there are none."""
    if not items:
        return ""
    cells = "padding:1px 10px 1px 0"
    body = []
    for item in items:
        passed = item.get("passed")
        if passed is None:
            verdict, color = "…", palette.MUTED
        elif passed:
            verdict, color = "✓ pass", palette.OK
        else:
            verdict, color = "✗ fail", palette.ERROR
        body.append(f"<tr><td style='{cells};font-family:monospace'>"
                    f"{html.escape(str(item.get('expr', '')))}</td>"
                    f"<td style='{cells}'>{_observed(item.get('observed'))}</td>"
                    f"<td style='{cells};color:{color};font-weight:600'>{verdict}</td></tr>")
    head = (f"<tr><th style='{cells};text-align:left'>Threshold</th>"
            f"<th style='{cells};text-align:left'>Observed</th>"
            f"<th style='{cells};text-align:left'>Result</th></tr>")
    return (f"<table class='loadnb-thresholds' style='border-collapse:collapse;font-size:12px'>"
            f"{head}{''.join(body)}</table>")


__all__ = ["alerts_html", "thresholds_html"]
