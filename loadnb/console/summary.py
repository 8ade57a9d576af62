"""The end-of-run summary table of a run's :class:`~loadnb.record.summary.Summary` (plain text,
aligned), and the error samples ``--show-errors`` prints after it."""

from __future__ import annotations

from ..record.summary import Parameters, QuantileKey, Summary
from ..results.words import load_text
from ..rules.alerts import failed_iterations_text
from ..rules.thresholds import parse_threshold
from ..text.numbers import DASH, count, decimals, fixed, percent, trimmed, with_unit

_SUMMARY_QS: tuple[QuantileKey, ...] = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
_TOP_ERRORS = 5
_SAMPLE_LINES = 12  # of a sample (a traceback's last lines), with --show-errors


def _threshold_rows(summary: Summary) -> list[str]:
    """``✓ p95<300ms  (observed 12.3)`` or ``✗ errors<1%  (observed 30)`` per threshold (with
    the decimals that keep the value on its side of the bound: ``errors<1%`` failed by 1.0004
    shows that, never 1.000)."""
    rows = []
    for t in summary["thresholds"]:
        mark = "✓ pass" if t["passed"] else "✗ FAIL"
        observed = t["observed"]
        seen = DASH if not isinstance(observed, int | float) else fixed(
            observed, _decimals(str(t["expr"]), float(observed)))
        aborted = "  (aborted the run)" if summary["aborted_by"] == t["expr"] else ""
        rows.append(f"{mark}  {t['expr']}  (observed {seen}){aborted}")
    return rows


def _decimals(expr: str, observed: float) -> int:
    """3 (none for a whole number, e.g. a count), or more when 3 would show ``observed`` on the
    other side of the bound of ``expr``."""
    if observed.is_integer():
        return 0
    try:
        return decimals(observed, parse_threshold(expr).bound, 3)
    except ValueError:  # a threshold of another version of the language: shown as it is
        return 3


def _alert_rows(summary: Summary) -> list[str]:
    """``rule: fired 1.0 s – cleared 3.5 s: message`` (``still active`` when not cleared)."""
    rows = []
    for alert in summary["alerts"]:
        fired, cleared = alert["fired_at"], alert["cleared_at"]
        span = (f"fired {fixed(fired, 1)} s, "
                + ("still active at the end" if cleared is None
                   else f"cleared {fixed(cleared, 1)} s"))
        rows.append(f"{alert['rule']}: {span}: {alert['message']}")
    return rows


def _load_text(params: Parameters) -> str:
    """``open model, 400 requests/s, 5 s, ramp-up 2 s``: the load in words
    (:func:`loadnb.results.words.load_text`) of the summary's (redacted) parameters."""
    load, length = load_text(params)
    model = "open" if params.get("model") == "open" else "closed"
    ramp_up = params.get("ramp_up")
    ramp = f", ramp-up {trimmed(ramp_up)} s" if ramp_up else ""
    return f"{model} model, {load}, {length}{ramp}"


def _latency_rows(summary: Summary, width: int) -> list[str]:
    """The latency table: a header row of percentiles, then response and service times."""
    cells: list[list[str]] = [["Latency (ms)", *_SUMMARY_QS]]
    conns = summary["connections"]
    parts = [("  response", summary["latency_ms"]), ("  service", summary["service_ms"])]
    if conns["connect_ms"]["p50"] is not None:  # the connections' set-up, where measured
        parts.append(("  connect", conns["connect_ms"]))
    if conns["tls_ms"]["p50"] is not None:
        parts.append(("  TLS handshake", conns["tls_ms"]))
    for label, data in parts:
        cells.append([label] + [fixed(data[q]) for q in _SUMMARY_QS])
    return _aligned(cells, width - 2)


def _aligned(cells: list[list[str]], first: int = 0) -> list[str]:
    """``cells`` as indented lines: the first column left-aligned (at least ``first`` wide),
    the others right-aligned, two spaces apart."""
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    widths[0] = max(widths[0], first)
    return ["  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                             enumerate(zip(row, widths, strict=True))).rstrip() for row in cells]


_STATS_HEAD = ("Name", "Requests", "Failed", "RPS", "p50", "p95", "p99", "max ms")
_MAX_STATS_ROWS = 20


def _stats_rows(summary: Summary) -> list[str]:
    """The per-request-name table of ``summary["stats"]``, like Locust's (none when empty)."""
    stats = summary["stats"]
    if not stats:
        return []
    cells = [list(_STATS_HEAD)]
    for s in stats[:_MAX_STATS_ROWS]:
        cells.append([str(s["name"]), count(s["requests"]), count(s["failed"]),
                      fixed(s["rps"], 1), fixed(s["p50_ms"]), fixed(s["p95_ms"]),
                      fixed(s["p99_ms"]), fixed(s["max_ms"])])
    if len(stats) > _MAX_STATS_ROWS:
        cells.append([f"(+{len(stats) - _MAX_STATS_ROWS} more names)"] + [""] * 7)
    return _aligned(cells)


_STREAMS_HEAD = ("Stream", "Kind", "Opened", "Failed", "Sent", "Received", "p50", "p95",
                 "p99 ms")


def _stream_rows(summary: Summary) -> list[str]:
    """The message streams of ``summary["messages"]``, one row per name: connections opened
    and failed, messages sent and received, the request–reply percentiles (none without
    streams)."""
    streams = summary["messages"]
    if not streams:
        return []
    cells = [list(_STREAMS_HEAD)]
    for name, m in streams.items():
        cells.append([name, m["kind"], count(m["opened"]), count(m["failed"]), count(m["sent"]),
                      count(m["received"]), fixed(m["p50_ms"]), fixed(m["p95_ms"]),
                      fixed(m["p99_ms"])])
    return _aligned(cells)


def _custom_rows(summary: Summary) -> list[str]:
    """One line per custom metric of ``summary["custom"]`` (none when there are none)."""
    out = []
    for name, m in summary["custom"].items():
        if m["kind"] == "counter":
            total = m["total"]
            whole = isinstance(total, int | float) and float(total).is_integer()
            text = (f"counter {fixed(total, 0 if whole else 2)} total | "
                    f"{with_unit(fixed(m['rate']), '/s')}")
        elif m["kind"] == "gauge":
            text = (f"gauge last {fixed(m['last'])} | min {fixed(m['min'])} | "
                    f"max {fixed(m['max'])}")
        else:
            text = (f"timing p50 {fixed(m['p50'])} | p95 {fixed(m['p95'])} | "
                    f"p99 {fixed(m['p99'])} | max {fixed(m['max'])} ms")
        out.append(f"{name}: {text} ({count(m['count'])} updates)")
    return out


def _check_rows(summary: Summary) -> list[str]:
    """``✓ has items 98.2 % (4,911 / 5,000)`` per named check, as k6 prints them (✗ when one
    failed)."""
    rows = []
    for name, c in summary["checks"].items():
        passes, fails = c["passes"], c["fails"]
        total = passes + fails
        share = percent(100.0 * passes / total if total else None, sep=" ")
        rows.append(f"{'✗' if fails else '✓'} {name} {share} ({passes:,} / {total:,})")
    return rows


def _iteration_rows(summary: Summary) -> list[str]:
    """``browse: 1,234 iterations, 2 failed`` per scenario task."""
    return [f"{task}: {count(it['iterations'])} iterations, {count(it['failed'])} failed"
            for task, it in summary["iterations"].items()]


#: Alert rules whose first message heads the table, and the words they go under.
_HEADLINE_RULES = {"target_down": "TARGET DOWN", "no_response": "NO ANSWER"}


def _first_lines(summary: Summary) -> list[str]:
    """What must not be missed, above the table: the target being down or not answering
    (``⚠ NO ANSWER: every request timed out after 1 s``), and failed scenario iterations
    (``⚠ Iterations 50 failed of 200 (buy: 50/50)``), which the requests' success rate does not
    show."""
    out = []
    for rule, words in _HEADLINE_RULES.items():
        alert = next((a for a in summary["alerts"] if a["rule"] == rule), None)
        if alert is not None:
            out.append(f"  ⚠ {words}: {alert['message']}")
    counts = {task: (it["iterations"], it["failed"])
              for task, it in summary["iterations"].items()}
    failed = failed_iterations_text(counts)
    if failed:
        out.append(f"  ⚠ Iterations {failed}")
    return out


def format_summary(summary: Summary) -> str:
    """The end-of-run table (plain text, aligned) of a run's summary.

    Requests (total, completed, failed, cancelled), success rate, duration, the start-up (its
    time and CPU), average and peak RPS, latency and service-time percentiles in ms, status
    codes, the per-name table, the message streams (WebSocket, SSE), the most frequent errors and
    any warnings. Empty values show as
    "—" (a partial summary formats too once :func:`~loadnb.record.summary.summary_of` has
    filled it in). Never shows request headers or bodies.
    """
    rows = _rows(summary)
    error_lines = _error_lines(summary)
    extra = [("Iterations", _iteration_rows(summary)), ("Checks", _check_rows(summary))]
    labels = [label for label, lines in extra if lines] + ["Latency (ms)", "Warnings"]
    width = max(len(label) for label in [label for label, _ in rows] + labels) + 2
    state = summary["state"]
    head = f"loadnb run {summary['run_id']}".rstrip()
    out = [f"{head} ({state})" if state else head]
    out += _first_lines(summary)  # nothing else in the table matters as much
    out += [f"  {label.ljust(width)}{value}" for label, value in rows]
    out += _latency_rows(summary, width)
    out += _stats_rows(summary)
    out += _stream_rows(summary)
    warnings = list(summary["warnings"])
    alerts = _alert_rows(summary)
    blocks = [("Errors", error_lines), ("Alerts", alerts), ("Warnings", warnings)]
    for label, lines in extra:
        if lines:
            blocks.insert(0, (label, lines))
    custom = _custom_rows(summary)
    if custom:
        blocks.insert(1, ("Custom", custom))
    if summary["thresholds"]:
        blocks.insert(0, ("Thresholds", _threshold_rows(summary)))
    for label, lines in blocks:
        for i, line in enumerate(lines or [DASH]):
            out.append(f"  {(label if i == 0 else '').ljust(width)}{line}")
    return "\n".join(out)


def _rows(summary: Summary) -> list[tuple[str, str]]:
    """The table's label/value rows: target and load, requests, rates, codes, the run error."""
    rows: list[tuple[str, str]] = []
    params = summary["parameters"]
    target = summary["target"] or summary["url"] or DASH
    if params:
        method = "" if params.get("scenario") else params.get("method", "")
        rows.append(("Target", f"{method} {target}".strip()))
        rows.append(("Load", _load_text(params)))
    else:
        rows.append(("Target", str(target)))
    rows.append(("Requests", (
        f"{count(summary['total_requests'])} total | "
        f"{count(summary['completed_requests'])} completed | "
        f"{count(summary['failed_requests'])} failed | "
        f"{count(summary['cancelled_requests'])} cancelled")))
    rate = summary["success_rate"]
    rows.append(("Success rate", percent(float(rate)) if isinstance(rate, int | float) else DASH))
    rows.append(("Duration", with_unit(fixed(summary["duration_s"]), "s")))
    if summary["startup_s"] is not None or summary["startup_cpu_s"] is not None:
        rows.append(("Start-up", f"{with_unit(fixed(summary['startup_s'], 3), 's')} | "
                                 f"{with_unit(fixed(summary['startup_cpu_s'], 3), 's CPU')}"))
    rows.append(("Throughput", f"{with_unit(fixed(summary['avg_rps'], 1), 'req/s')} avg | "
                               f"{with_unit(fixed(summary['peak_rps'], 1), 'req/s')} peak"))
    dropped = summary["dropped_arrivals"]
    if isinstance(dropped, int) and dropped > 0:
        rows.append(("Dropped", f"{dropped:,} arrivals (max in flight reached)"))
    codes = summary["status_codes"]
    rows.append(("Status codes", ", ".join(f"{k}: {count(v)}" for k, v in codes.items())
                 or DASH))
    if summary["protocol"]:
        opened = summary["connections"]["opened"]
        rows.append(("Protocol", f"{summary['protocol']}" + (
            f" ({count(opened)} connection{'s' if opened != 1 else ''})" if opened else "")))
    if summary["latency_basis"]:
        rows.append(("Latency basis", summary["latency_basis"]))
    if summary["error"]:
        rows.append(("Run error", summary["error"]))
    return rows


def _error_lines(summary: Summary) -> list[str]:
    """The most frequent error kinds, most first, and how many more there are."""
    errors = sorted(summary["errors"].items(), key=lambda kv: -kv[1])
    error_lines = [f"{kind}: {count(n)}" for kind, n in errors[:_TOP_ERRORS]]
    if len(errors) > _TOP_ERRORS:
        error_lines.append(f"(+{len(errors) - _TOP_ERRORS} more kinds)")
    return error_lines


def format_error_samples(summary: Summary) -> str:
    """``Error samples`` and, per error kind of ``summary["error_samples"]``, its count and its
    sample (already redacted and capped), indented; ``—`` when there is none."""
    errors = summary["errors"]
    out = ["Error samples"]
    for kind, text in summary["error_samples"].items():
        out.append(f"  {kind} ({count(errors.get(kind))}):")
        out += [f"    {line}" for line in str(text).splitlines()[-_SAMPLE_LINES:] or [""]]
    if len(out) == 1:
        out.append(f"  {DASH}")
    return "\n".join(out)


__all__ = ["format_error_samples", "format_summary"]
