"""The terminal face of a run: the live progress line and the end-of-run summary table.

Pure formatting (:func:`format_line`, :func:`format_summary`) plus one subscriber,
:class:`ConsoleProgress`, that writes the line to a text stream (stderr by default): rewritten in
place on a terminal, a new line at most once per second otherwise (logs, CI). No pandas, widgets or
Bokeh here: the CLI imports this on its fast path.
"""

from __future__ import annotations

import math
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

from .alerts import AlertEvent
from .snapshot import Snapshot

if TYPE_CHECKING:
    from .run import Run

#: The label at the start of the line, by state (see :func:`format_line`).
LABELS: dict[str, str] = {
    "running": "🔄 Running...",
    "stopping": "⏳ Stopping...",
    "done": "✅ Done",
    "stopped": "⏹ Stopped",
    "failed": "❌ Failed",
}
FINAL_STATES = frozenset({"done", "stopped", "failed"})
DASH = "—"
_CLEAR_EOL = "\x1b[K"
_SUMMARY_QS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
_TOP_ERRORS = 5
_SAMPLE_LINES = 12  # of a sample (a traceback's last lines), with --show-errors


def _fixed(value: float, digits: int = 1) -> str:
    """``value`` with thousands separators and ``digits`` decimals; "—" when NaN or infinite."""
    if not math.isfinite(value):
        return DASH
    text = f"{value:,.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def _percent(rate: float) -> str:
    """A success rate in percent, one decimal, never rounded up to 100.0 while something failed."""
    if not math.isfinite(rate):
        return DASH
    text = f"{rate:.1f}"
    if text == "100.0" and rate < 100.0:
        text = "99.9"
    return f"{text}%"


def format_line(snap: Snapshot, *, state: str = "running") -> str:
    """The one-line progress of a run, as in the product brief.

    ``state`` is the run's: ``running``, ``stopping``, ``done``, ``stopped`` or ``failed``. A
    running snapshot whose phase is ``ending``/``done`` (grace period) reads ``⏳ Stopping...``.
    Success is "—" until the first response; counts have thousands separators. In the final
    states RPS is the run's average (the last interval is usually a partial one).

    >>> format_line(Snapshot(0.0, 45.0, 45.2, 15, 1250, 19, 98.5, 12.5, 14.0, 55.0))
    '🔄 Running... 45.2% | Active: 15 | RPS: 12.5 | Success: 98.5% | Completed: 1,250'
    """
    if state not in LABELS:
        raise ValueError(f"state must be one of {', '.join(LABELS)}, got {state!r}")
    if state == "running" and snap.phase in ("ending", "done"):
        state = "stopping"
    rps = snap.current_rps
    if state in FINAL_STATES:
        answered = snap.completed_requests + snap.failed_requests
        rps = answered / snap.elapsed_time if snap.elapsed_time > 0 else math.nan
    progress = _fixed(snap.progress_percent)
    return (f"{LABELS[state]} {progress}{'' if progress == DASH else '%'}"
            f" | Active: {snap.active_users:,} | RPS: {_fixed(rps)}"
            f" | Success: {_percent(snap.success_rate)}"
            f" | Completed: {snap.completed_requests:,}")


def format_alert(event: AlertEvent | Mapping[str, Any], what: str | None = None) -> str:
    """One alert event as a line: ``⚠ alert low_success_rate fired at 3.0 s: …`` or, for a
    clear, ``✓ alert low_success_rate cleared at 5.5 s``. ``what`` is ``fired`` or ``cleared``
    (default: from the event); a summary's alert dicts format too."""
    data = event.as_dict() if isinstance(event, AlertEvent) else dict(event)
    cleared = data.get("cleared_at")
    if what is None:
        what = "fired" if cleared is None else "cleared"
    if what == "cleared":
        return f"✓ alert {data.get('rule')} cleared at {_fixed(float(cleared or 0.0))} s"
    return (f"⚠ alert {data.get('rule')} fired at {_fixed(float(data.get('fired_at') or 0.0))} s: "
            f"{data.get('message')}")


def _threshold_rows(summary: Mapping[str, Any]) -> list[str]:
    """``✓ p95<300ms  (observed 12.3)`` or ``✗ errors<1%  (observed 30)`` per threshold."""
    rows = []
    for t in summary.get("thresholds") or []:
        if isinstance(t, Mapping):
            mark = "✓ pass" if t.get("passed") else "✗ FAIL"
            observed = t.get("observed")
            seen = DASH if not isinstance(observed, int | float) else _number(observed, 3)
            aborted = "  (aborted the run)" if summary.get("aborted_by") == t.get("expr") else ""
            rows.append(f"{mark}  {t.get('expr')}  (observed {seen}){aborted}")
    return rows


def _alert_rows(summary: Mapping[str, Any]) -> list[str]:
    """``rule: fired 1.0 s – cleared 3.5 s: message`` (``still active`` when not cleared)."""
    rows = []
    for alert in summary.get("alerts") or []:
        if not isinstance(alert, Mapping):
            continue
        fired, cleared = alert.get("fired_at"), alert.get("cleared_at")
        span = (f"fired {_number(fired, 1)} s, "
                + ("still active at the end" if cleared is None
                   else f"cleared {_number(cleared, 1)} s"))
        rows.append(f"{alert.get('rule')}: {span}: {alert.get('message')}")
    return rows


# -- summary table ---------------------------------------------------------------------------------
def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else DASH


def _number(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    return _fixed(float(value), digits)


def _unit(text: str, unit: str) -> str:
    return text if text == DASH else f"{text} {unit}"


def _load_text(params: Mapping[str, Any]) -> str:
    """``open model, 400 req/s, 5 s`` from the summary's (redacted) parameters."""
    if params.get("model") == "open":
        parts = [f"open model, {_number(params.get('rate'), 1)} req/s"]
    else:
        parts = [f"closed model, {_count(params.get('users'))} users"]
    if isinstance(params.get("duration"), int | float):
        parts.append(f"{params['duration']:g} s")
    if isinstance(params.get("requests"), int):
        parts.append(f"{params['requests']:,} requests max")
    if params.get("ramp_up"):
        parts.append(f"ramp-up {params['ramp_up']:g} s")
    return ", ".join(parts)


def _latency_rows(summary: Mapping[str, Any], width: int) -> list[str]:
    """The latency table: a header row of percentiles, then response and service times."""
    cells = [["Latency (ms)", *_SUMMARY_QS]]
    for label, key in (("  response", "latency_ms"), ("  service", "service_ms")):
        values = summary.get(key)
        data = values if isinstance(values, Mapping) else {}
        cells.append([label] + [_number(data.get(q)) for q in _SUMMARY_QS])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    widths[0] = max(widths[0], width - 2)
    return ["  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                             enumerate(zip(row, widths, strict=True))).rstrip() for row in cells]


_STATS_HEAD = ("Name", "Requests", "Failures", "RPS", "p50", "p95", "p99", "max ms")
_MAX_STATS_ROWS = 20


def _stats_rows(summary: Mapping[str, Any]) -> list[str]:
    """The per-request-name table of ``summary["stats"]``, like Locust's (none when empty)."""
    stats = [s for s in summary.get("stats") or [] if isinstance(s, Mapping)]
    if not stats:
        return []
    cells = [list(_STATS_HEAD)]
    for s in stats[:_MAX_STATS_ROWS]:
        cells.append([str(s.get("name")), _count(s.get("requests")), _count(s.get("failures")),
                      _number(s.get("rps"), 1)] + [_number(s.get(k)) for k in
                                                   ("p50_ms", "p95_ms", "p99_ms", "max_ms")])
    if len(stats) > _MAX_STATS_ROWS:
        cells.append([f"(+{len(stats) - _MAX_STATS_ROWS} more names)"] + [""] * 7)
    widths = [max(len(row[i]) for row in cells) for i in range(len(_STATS_HEAD))]
    return ["  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                             enumerate(zip(row, widths, strict=True))).rstrip() for row in cells]


def _custom_rows(summary: Mapping[str, Any]) -> list[str]:
    """One line per custom metric of ``summary["custom"]`` (none when there are none)."""
    out = []
    custom = summary.get("custom")
    for name, m in (custom.items() if isinstance(custom, Mapping) else ()):
        if not isinstance(m, Mapping):
            continue
        kind = m.get("kind")
        if kind == "counter":
            total = m.get("total")
            whole = isinstance(total, int | float) and float(total).is_integer()
            text = (f"counter {_number(total, 0 if whole else 2)} total | "
                    f"{_unit(_number(m.get('rate')), '/s')}")
        elif kind == "gauge":
            text = (f"gauge last {_number(m.get('last'))} | min {_number(m.get('min'))} | "
                    f"max {_number(m.get('max'))}")
        else:
            text = (f"timing p50 {_number(m.get('p50'))} | p95 {_number(m.get('p95'))} | "
                    f"p99 {_number(m.get('p99'))} | max {_number(m.get('max'))} ms")
        out.append(f"{name}: {text} ({_count(m.get('count'))} updates)")
    return out


def _check_rows(summary: Mapping[str, Any]) -> list[str]:
    """``✓ has items 98.2 % (4,911 / 5,000)`` per named check, as k6 prints them (✗ when one
    failed)."""
    rows = []
    checks = summary.get("checks")
    for name, c in (checks.items() if isinstance(checks, Mapping) else ()):
        if not isinstance(c, Mapping):
            continue
        passes, fails = int(c.get("passes") or 0), int(c.get("fails") or 0)
        total = passes + fails
        share = f"{100.0 * passes / total:.1f}" if total else DASH
        share = "99.9" if share == "100.0" and fails else share
        rows.append(f"{'✗' if fails else '✓'} {name} {share} % ({passes:,} / {total:,})")
    return rows


def _iteration_rows(summary: Mapping[str, Any]) -> list[str]:
    """``browse: 1,234 iterations, 2 failed`` per scenario task."""
    rows = []
    iterations = summary.get("iterations")
    for task, it in (iterations.items() if isinstance(iterations, Mapping) else ()):
        if isinstance(it, Mapping):
            rows.append(f"{task}: {_count(it.get('iterations'))} iterations, "
                        f"{_count(it.get('failed'))} failed")
    return rows


def format_summary(summary: Mapping[str, Any]) -> str:
    """The end-of-run table (plain text, aligned) of a run's ``summary`` dict.

    Requests (total, completed, failed, cancelled), success rate, duration, average and peak RPS,
    latency and service-time percentiles in ms, status codes, the most frequent errors and any
    warnings. Missing or empty values show as "—", so a partial summary formats too. Never shows
    request headers or bodies.
    """
    rows: list[tuple[str, str]] = []
    params = summary.get("parameters")
    target = summary.get("target") or summary.get("url", DASH)
    if isinstance(params, Mapping):
        method = "" if params.get("scenario") else params.get("method", "")
        rows.append(("Target", f"{method} {target}".strip()))
        rows.append(("Load", _load_text(params)))
    else:
        rows.append(("Target", str(target)))
    rows.append(("Requests", (
        f"{_count(summary.get('total_requests'))} total | "
        f"{_count(summary.get('completed_requests'))} completed | "
        f"{_count(summary.get('failed_requests'))} failed | "
        f"{_count(summary.get('cancelled_requests'))} cancelled")))
    rate = summary.get("success_rate")
    rows.append(("Success rate", _percent(float(rate)) if isinstance(rate, int | float) else DASH))
    rows.append(("Duration", _unit(_number(summary.get("duration_s")), "s")))
    rows.append(("Throughput", f"{_unit(_number(summary.get('avg_rps'), 1), 'req/s')} avg | "
                               f"{_unit(_number(summary.get('peak_rps'), 1), 'req/s')} peak"))
    dropped = summary.get("dropped_arrivals")
    if isinstance(dropped, int) and dropped > 0:
        rows.append(("Dropped", f"{dropped:,} arrivals (max in flight reached)"))
    codes = summary.get("status_codes") or {}
    rows.append(("Status codes", ", ".join(f"{k}: {_count(v)}" for k, v in codes.items())
                 or DASH))
    errors = sorted((summary.get("errors") or {}).items(), key=lambda kv: -kv[1])
    error_lines = [f"{kind}: {_count(n)}" for kind, n in errors[:_TOP_ERRORS]]
    if len(errors) > _TOP_ERRORS:
        error_lines.append(f"(+{len(errors) - _TOP_ERRORS} more kinds)")
    if summary.get("latency_basis"):
        rows.append(("Latency basis", str(summary["latency_basis"])))
    if summary.get("error"):
        rows.append(("Run error", str(summary["error"])))
    extra = [("Iterations", _iteration_rows(summary)), ("Checks", _check_rows(summary))]
    labels = [label for label, lines in extra if lines] + ["Latency (ms)", "Warnings"]
    width = max(len(label) for label in [label for label, _ in rows] + labels) + 2
    state = summary.get("state")
    head = f"loadnb run {summary.get('run_id', '')}".rstrip()
    out = [f"{head} ({state})" if state else head]
    down = [a for a in summary.get("alerts") or []
            if isinstance(a, Mapping) and a.get("rule") == "target_down"]
    if down:  # nothing else in the table matters as much
        out.append(f"  ⚠ TARGET DOWN: {down[0].get('message')}")
    out += [f"  {label.ljust(width)}{value}" for label, value in rows]
    out += _latency_rows(summary, width)
    out += _stats_rows(summary)
    warnings = [str(w) for w in summary.get("warnings") or []]
    alerts = _alert_rows(summary)
    blocks = [("Errors", error_lines), ("Alerts", alerts), ("Warnings", warnings)]
    for label, lines in extra:
        if lines:
            blocks.insert(0, (label, lines))
    custom = _custom_rows(summary)
    if custom:
        blocks.insert(1, ("Custom", custom))
    if summary.get("thresholds"):
        blocks.insert(0, ("Thresholds", _threshold_rows(summary)))
    for label, lines in blocks:
        for i, line in enumerate(lines or [DASH]):
            out.append(f"  {(label if i == 0 else '').ljust(width)}{line}")
    return "\n".join(out)


def format_error_samples(summary: Mapping[str, Any]) -> str:
    """``Error samples`` and, per error kind of ``summary["error_samples"]``, its count and its
    sample (already redacted and capped), indented; ``—`` when there is none."""
    samples = summary.get("error_samples")
    errors = summary.get("errors") or {}
    out = ["Error samples"]
    for kind, text in (samples.items() if isinstance(samples, Mapping) else ()):
        out.append(f"  {kind} ({_count(errors.get(kind))}):")
        out += [f"    {line}" for line in str(text).splitlines()[-_SAMPLE_LINES:] or [""]]
    if len(out) == 1:
        out.append(f"  {DASH}")
    return "\n".join(out)


# -- the live line -----------------------------------------------------------------------------
def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fit(text: str, columns: int) -> str:
    """``text`` cut to fit ``columns - 1`` terminal cells (so the cursor never wraps)."""
    if columns <= 1 or _display_width(text) < columns:
        return text
    out, used = [], 0
    for c in text:
        w = 2 if unicodedata.east_asian_width(c) in "WF" else 1
        if used + w > columns - 2:
            break
        out.append(c)
        used += w
    return "".join(out) + "…"


class ConsoleProgress:
    """A run subscriber that shows :func:`format_line` on a text stream (stderr by default).

    On a terminal the line is rewritten in place (``\\r`` and clear to end of line); otherwise a
    new line is written at most once every ``min_interval`` seconds (``clock`` is injectable), and
    the final line is always written. Call :meth:`close` at the end to finish the line.

    Example::

        progress = ConsoleProgress()
        progress.attach(run)      # subscribe + follow the run's state (Stopping, Done, ...)
        result = await run.run()
        progress.close()
    """

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None,
                 min_interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError, OSError):
                tty = False
        self.tty = tty
        self.min_interval = min_interval
        self.state = "running"
        self._clock = clock
        self._dumb = os.environ.get("TERM") == "dumb"
        self._last: Snapshot | None = None
        self._progress = math.nan  # last progress while running (a stop shows where it stopped)
        self._printed_at = -math.inf
        self._shown = ""  # text currently on the terminal line (tty) or last printed (not tty)
        self._pending = False  # the latest line was not written yet (not tty)

    def __call__(self, snap: Snapshot) -> None:
        """Take a snapshot (the subscriber interface)."""
        self._last = snap
        if snap.phase not in ("ending", "done"):
            self._progress = snap.progress_percent
        self._render(force=False)

    def attach(self, run: Run) -> Callable[[], None]:
        """Subscribe to ``run``, follow its state changes and print its alerts as they fire and
        clear; returns the unsubscribe function."""
        run.on_state(self._on_state)
        run.on_alert(self.alert)
        return run.subscribe(self)

    def alert(self, event: AlertEvent, what: str) -> None:
        """Print an alert fire or clear on a line of its own (above the live line on a tty)."""
        line = format_alert(event, what)
        if self.tty:
            pad = " " * max(0, len(self._shown) - len(line)) if self._dumb else _CLEAR_EOL
            self._write(f"\r{line}{pad}\n")
            self._shown = ""
            self._render(force=True)
        else:
            self._write(line + "\n")

    def set_state(self, state: str) -> None:
        """Show ``state`` (a key of :data:`LABELS`); a final state writes the last line now."""
        if state not in LABELS:
            raise ValueError(f"state must be one of {', '.join(LABELS)}, got {state!r}")
        if state != self.state:
            self.state = state
            self._render(force=state in FINAL_STATES)

    def close(self) -> None:
        """Finish the line (a newline on a terminal; the last unwritten line otherwise)."""
        if self.tty:
            if self._shown:
                self._write("\n")
                self._shown = ""
        elif self._pending:
            self._render(force=True)

    def _on_state(self, run: Run) -> None:
        if run.state == "stopping":
            self.set_state("stopping")
        elif run.state == "failed":
            self.set_state("failed")
        elif run.state == "done":
            self.set_state("stopped" if run.result.state == "stopped" else "done")

    def _text(self) -> str:
        assert self._last is not None
        snap = self._last
        if self.state in ("stopped", "failed") and math.isfinite(self._progress):
            snap = replace(snap, progress_percent=self._progress)
        return format_line(snap, state=self.state)

    def _render(self, *, force: bool) -> None:
        if self._last is None:
            return
        text = self._text()
        if self.tty:
            text = _fit(text, self._columns())
            if text != self._shown:
                pad = " " * max(0, len(self._shown) - len(text)) if self._dumb else _CLEAR_EOL
                self._write(f"\r{text}{pad}")
                self._shown = text
            return
        now = self._clock()
        quiet = self._last.phase == "done" and self.state not in FINAL_STATES
        if not force and (quiet or now - self._printed_at < self.min_interval):
            self._pending = text != self._shown
            return
        if text != self._shown:
            self._write(text + "\n")
            self._shown, self._printed_at = text, now
        self._pending = False

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            return 0

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


__all__ = ["FINAL_STATES", "LABELS", "ConsoleProgress", "format_alert", "format_error_samples",
           "format_line", "format_summary"]
