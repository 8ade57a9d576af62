"""Plain-text lines the widget shows: the brief's live metrics line and the end-of-run status."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from ..metrics.snapshot import Snapshot
from ..record.summary import Summary
from ..rules.alerts import failed_iterations_text
from ..spec.config import LoadSpec

#: Icon and label of the metrics line for each state of a run.
STATE_LABELS: dict[str, str] = {
    "idle": "⏸ Ready", "running": "🔄 Running...", "stopping": "⏹ Stopping...",
    "done": "✅ Done", "stopped": "⏹ Stopped", "failed": "❌ Failed",
}
#: The state badge beside the progress bar, per state: (text, background colour). It says the
#: state in words and colour, so a browser without an emoji font still reads it.
STATE_BADGES: dict[str, tuple[str, str]] = {
    "idle": ("READY", "#546e7a"), "running": ("RUNNING", "#1565c0"),
    "stopping": ("STOPPING", "#8a5300"), "done": ("DONE", "#1b5e20"),
    "stopped": ("STOPPED", "#8a5300"), "failed": ("FAILED", "#b00020"),
}
#: States of a finished run: the metrics line shows the run's average RPS (requests answered /
#: seconds to the last snapshot, the summary's ``avg_rps``), not the last partial interval's.
FINAL_STATES = frozenset({"done", "stopped", "failed"})


def fmt_percent(value: float | None) -> str:
    """``98.5%``; ``—`` for NaN/None (no response yet)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.1f}%"


def fmt_number(value: float | None, digits: int = 1) -> str:
    """``1,250`` / ``12.5`` with thousands separators; ``—`` for NaN/None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def load_text(spec: LoadSpec) -> tuple[str, str]:
    """``("10 users", "8 s")``: the load model and the length of a run, in words.

    Stages and shapes say so: ``("stages up to 20 users", "50 s")``.
    """
    unit = "users" if spec.rate is None else "requests/s"
    peak = spec.users if spec.rate is None else spec.rate
    if spec.stages is not None:
        load = f"stages up to {max(v for _, v in spec.stages):g} {unit}"
    elif spec.shape_fn is not None:
        load = f"{unit} from {getattr(spec.shape_fn, '__name__', 'a function')}(t)"
    else:
        load = f"{peak:g} {unit}"
    length = (f"{spec.duration:g} s" if spec.duration is not None
              else f"{spec.requests:,} requests")
    return load, length


def metrics_line(snap: Snapshot | None, state: str = "running",
                 iterations: Mapping[str, Sequence[int]] | None = None) -> str:
    """The brief's live line, e.g.
    ``🔄 Running... 45.2% | Active: 15 | RPS: 12.5 | Success: 98.5% | Completed: 1,250``.

    ``iterations`` (a scenario's, task -> ``[iterations, failed]`` so far): when some failed,
    the line says so after the requests' numbers, ``| ⚠ Iterations 50 failed of 200 (buy:
    50/50)``, since the requests' success rate does not show them.

    >>> metrics_line(None, "idle")
    '⏸ Ready 0.0% | Active: 0 | RPS: 0.0 | Success: — | Completed: 0'
    """
    label = STATE_LABELS.get(state, state)
    if snap is None:
        return f"{label} 0.0% | Active: 0 | RPS: 0.0 | Success: — | Completed: 0"
    rps = snap.current_rps
    if state in FINAL_STATES:  # the run's average, as the summary's avg_rps and the console
        answered = snap.completed_requests + snap.failed_requests
        rps = answered / snap.elapsed_time if snap.elapsed_time > 0 else math.nan
    line = (f"{label} {snap.progress_percent:.1f}% | Active: {snap.active_users:,} | "
            f"RPS: {fmt_number(rps)} | Success: {fmt_percent(snap.success_rate)} | "
            f"Completed: {snap.completed_requests:,}")
    failed = failed_iterations_text(iterations or {})
    return line if failed is None else f"{line} | ⚠ Iterations {failed}"


def done_line(summary: Summary) -> str:
    """One sentence about a finished run, from its summary."""
    lat = summary["latency_ms"]
    verb = {"stopped": "Stopped", "failed": "Failed"}.get(summary["state"], "Done")
    parts = [
        f"{verb} after {summary['duration_s']:.1f} s:",
        f"{summary['total_requests']:,} requests,",
        f"{fmt_number(summary['avg_rps'])} req/s on average,",
        f"success {fmt_percent(summary['success_rate'])},",
        f"p50 {fmt_number(lat['p50'])} ms, p99 {fmt_number(lat['p99'])} ms.",
    ]
    return " ".join(parts)


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


def badge_html(state: str) -> str:
    """The state badge: the state's name in capitals, white on its colour (:data:`STATE_BADGES`).

    >>> badge_html("running")  # doctest: +ELLIPSIS
    '<span class="loadnb-state loadnb-state-running" ...>RUNNING</span>'
    """
    text, color = STATE_BADGES.get(state, (state.upper(), "#546e7a"))
    style = (f"background:{color};color:#fff;font-weight:700;font-size:11px;"
             "letter-spacing:0.05em;padding:2px 8px;border-radius:10px;"
             "font-family:var(--jp-ui-font-family,sans-serif);white-space:nowrap")
    name = html.escape(state)
    return (f'<span class="loadnb-state loadnb-state-{name}" title="{name}" '
            f'style="{style}">{html.escape(text)}</span>')


def html_details(summary_text: str, body: str, *, color: str = "#b00020") -> str:
    """A collapsible block (e.g. an error with its traceback folded away)."""
    return (f'<details style="color:{color}"><summary>{html.escape(summary_text)}</summary>'
            f'<pre style="white-space:pre-wrap;font-size:11px">{html.escape(body)}</pre></details>')


__all__ = ["FINAL_STATES", "STATE_BADGES", "STATE_LABELS", "badge_html", "done_line", "fmt_number",
           "fmt_percent", "html_details", "html_line", "load_text", "metrics_line"]
