"""The parts of the run summary (:mod:`loadnb.record.summary`): the type of each nested entry
(``stats`` rows, ``users_started``, ``generator``, ``checks``, ``iterations``, ``custom``,
``messages``) and the functions that compute the summary's parts from a
:class:`~loadnb.record.record.RunRecord`.
"""

from __future__ import annotations

import math
from typing import Literal, TypedDict, get_args

from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats
from .record import RunRecord


class StatsRow(TypedDict):
    """One request name of ``stats`` (Locust-like)."""

    name: str
    requests: int
    failed: int
    rps: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


StatsKey = Literal["name", "requests", "failed", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
#: The keys of :class:`StatsRow`, in their order (the columns of the per-name tables).
STATS_KEYS: tuple[StatsKey, ...] = get_args(StatsKey)


class UsersStarted(TypedDict):
    """``users_started`` (closed model): the most users at once and the most asked for."""

    max_active: int
    asked: int


class GeneratorHealth(TypedDict):
    """``generator``: the generator's own worst loop lag and CPU, most waiting for a connection,
    and the open model's send lag (when each arrival's request was written minus when it was
    due): the worst interval's 99th percentile (None in the closed model)."""

    max_loop_lag_ms: float | None
    max_cpu_percent: float | None
    max_waiting_for_connection: int
    send_lag_p99_ms: float | None


class CheckCount(TypedDict):
    """One named check of ``checks``."""

    passes: int
    fails: int


class IterationCount(TypedDict):
    """One scenario task of ``iterations`` (iterations, never requests)."""

    iterations: int
    failed: int


class CustomCounter(TypedDict):
    """A counter of ``custom``: updates, total, rate per second of the run."""

    kind: Literal["counter"]
    count: int
    total: float
    rate: float | None


class CustomGauge(TypedDict):
    """A gauge of ``custom``: updates, last, min and max value."""

    kind: Literal["gauge"]
    count: int
    last: float | None
    min: float | None
    max: float | None


class CustomTiming(TypedDict):
    """A timing of ``custom``: updates, percentiles, max and mean in ms."""

    kind: Literal["timing"]
    count: int
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None


CustomEntry = CustomCounter | CustomGauge | CustomTiming


class MessageEntry(TypedDict):
    """One message stream (WebSocket or SSE) of ``messages``: its connections (``close_codes``
    by WebSocket code, ``errors`` by kind), messages and bytes each way, the median time from
    opening to the first message and the request–reply latency percentiles, in ms."""

    kind: str
    opened: int
    failed: int
    closed: int
    close_codes: dict[str, int]
    errors: dict[str, int]
    sent: int
    received: int
    bytes_sent: int
    bytes_received: int
    first_message_p50_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def startup_s(record: RunRecord) -> float | None:
    """Seconds from the run's start to its load's start (the first snapshot's wall time less its
    elapsed time); None before the first snapshot."""
    if not record.snapshots:
        return None
    first = record.snapshots[0]
    return round(max(0.0, first.timestamp - first.elapsed_time - record.started_at), 3)


def startup_cpu_s(record: RunRecord) -> float | None:
    """CPU seconds (user + system) this process used from the run's start to its load's start:
    ``record.cpu_at_load - record.cpu_at_start`` (counted from the process's start for ``loadnb
    run``, from the run's start in a notebook); None when the load never began."""
    cpu = record.startup_cpu
    return None if cpu is None else round(max(0.0, cpu), 3)


def generator_summary(snapshots: list[Snapshot]) -> GeneratorHealth:
    """The generator's own health over the run: worst loop lag and CPU, arrivals dropped."""
    def worst(values: list[float]) -> float | None:
        finite = [v for v in values if not math.isnan(v)]
        return round(max(finite), 3) if finite else None

    return {
        "max_loop_lag_ms": worst([s.loop_lag_ms for s in snapshots]),
        "max_cpu_percent": worst([s.cpu_percent for s in snapshots if s.phase != "done"]),
        "max_waiting_for_connection": max((s.waiting_for_connection for s in snapshots),
                                          default=0),
        "send_lag_p99_ms": worst([s.send_lag_p99_ms for s in snapshots]),
    }


def latency_basis(record: RunRecord) -> str:
    """What ``latency_ms`` measures in this run; "corrected" only when a correction was made."""
    spec = record.spec
    if spec.rate is not None:
        return "response time from the intended start"
    if spec.expected_interval is not None and record.corrected:
        return (f"time from the send, corrected for coordinated omission (expected interval "
                f"{spec.expected_interval * 1e3:g} ms; {record.corrected:,} synthetic samples)")
    return "time from the send"


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value * 1e3, 3)


def _plain(value: float) -> float | None:
    return value if math.isfinite(value) else None


def custom_summary(record: RunRecord) -> dict[str, CustomEntry]:
    """``summary["custom"]``: per custom metric its ``kind`` and ``count`` (updates), and a
    counter's ``total`` and ``rate`` (per second of the run), a gauge's ``last``, ``min`` and
    ``max``, a timing's ``p50``, ``p90``, ``p95``, ``p99``, ``max`` and ``mean`` in ms."""
    duration = record.duration_s
    out: dict[str, CustomEntry] = {}
    for name, m in record.custom.items():
        if m.kind == "counter":
            out[name] = {"kind": "counter", "count": m.count, "total": m.total,
                         "rate": round(m.total / duration, 3) if duration > 0 else None}
        elif m.kind == "gauge":
            out[name] = {"kind": "gauge", "count": m.count, "last": _plain(m.last),
                         "min": _plain(m.min), "max": _plain(m.max)}
        else:
            p50, p90, p95, p99 = m.hist.percentiles((50, 90, 95, 99))
            out[name] = {"kind": "timing", "count": m.count, "p50": _ms(p50), "p90": _ms(p90),
                         "p95": _ms(p95), "p99": _ms(p99), "max": _ms(m.hist.max),
                         "mean": _ms(m.hist.mean)}
    return out


def messages_summary(record: RunRecord) -> dict[str, MessageEntry]:
    """``summary["messages"]``: per stream name, a :class:`MessageEntry`."""
    out: dict[str, MessageEntry] = {}
    for name, m in record.messages.items():
        first = m.first_message.percentile(50) if m.first_message.total else math.nan
        p50, p95, p99 = m.reply.percentiles((50, 95, 99)) if m.reply.total else [math.nan] * 3
        out[name] = {
            "kind": m.kind, "opened": m.opened, "failed": m.failed, "closed": m.closed,
            "close_codes": {str(k): v for k, v in sorted(m.close_codes.items())},
            "errors": dict(sorted(m.errors.items(), key=lambda kv: -kv[1])),
            "sent": m.sent, "received": m.received, "bytes_sent": m.bytes_sent,
            "bytes_received": m.bytes_received, "first_message_p50_ms": _ms(first),
            "p50_ms": _ms(p50), "p95_ms": _ms(p95), "p99_ms": _ms(p99)}
    return out


def stats_summary(record: RunRecord) -> list[StatsRow]:
    """``summary["stats"]``: one row per request name, Locust-like (``name, requests, failed,
    rps, p50_ms, p95_ms, p99_ms, max_ms``), the numbers and column names
    :func:`loadnb.results.frame.stats_frame` gives (computed here from the totals: no pandas),
    names in the order the run first saw them. ``rps`` is answered requests / ``duration_s``."""
    duration = record.duration_s
    rows: list[StatsRow] = []
    for name, t in record.totals.items():
        lat = t.latency.summary()
        rows.append({
            "name": name, "requests": t.completed + t.failed + t.cancelled, "failed": t.failed,
            "rps": round((t.completed + t.failed) / duration, 3) if duration > 0 else None,
            "p50_ms": lat["p50"], "p95_ms": lat["p95"], "p99_ms": lat["p99"],
            "max_ms": lat["max"]})
    return rows


def workers_lost(snapshots: list[Snapshot]) -> int:
    """Worker processes lost during the run: the most that were live, less those at the end."""
    if not snapshots:
        return 0
    return max(s.workers for s in snapshots) - snapshots[-1].workers


def users_started(record: RunRecord) -> UsersStarted | None:
    """``summary["users_started"]``: closed model, the most users that ran at once
    (``max_active``) and the most the load asked for (``asked``); None in the open model."""
    spec = record.spec
    if spec.rate is not None:
        return None
    asked = max((s.target_users for s in record.snapshots),
                default=int(getattr(spec, "users", 0) or 0))  # a stored spec has no users
    return {"max_active": max((s.active_users for s in record.snapshots), default=0),
            "asked": asked}


def summary_warnings(record: RunRecord, started: UsersStarted | None) -> list[str]:
    """The record's warnings, and one when fewer users than asked ever ran."""
    out = list(record.warnings)
    judged = any(s.phase == "running" for s in record.snapshots)  # not a run of one tick
    if (started is not None and judged and record.state != "running"
            and started["max_active"] < started["asked"]):
        out.append(f"only {started['max_active']:,} of the {started['asked']:,} users asked "
                   "for ever ran at once (the run ended, or users could not all be started)")
    return out


def checks_summary(overall: IntervalStats) -> dict[str, CheckCount]:
    """``summary["checks"]``: per named check, ``{"passes", "fails"}``."""
    return {name: {"passes": p, "fails": f} for name, (p, f) in sorted(overall.checks.items())}


def iterations_summary(overall: IntervalStats) -> dict[str, IterationCount]:
    """``summary["iterations"]``: per scenario task, ``{"iterations", "failed"}`` (never
    requests)."""
    return {task: {"iterations": n, "failed": f} for task, (n, f) in overall.iterations.items()}


def error_samples(record: RunRecord) -> dict[str, str]:
    """``summary["error_samples"]``: per error kind, one sample (redacted and capped when it was
    kept): the first name's that has one, most frequent kinds first."""
    out: dict[str, str] = {}
    for kind in errors_summary(record.overall):
        for t in record.totals.values():
            if kind in t.errors and t.samples.get(kind):
                out[kind] = t.samples[kind]
                break
        else:
            for key, text in record.overall.samples.items():
                if key.partition("\x00")[2] == kind and text:
                    out[kind] = text
                    break
    return out


def errors_summary(overall: IntervalStats) -> dict[str, int]:
    """``summary["errors"]``: request failures by kind, and the kinds that failed scenario
    iterations, most frequent first."""
    errors = dict(overall.errors)
    for key, n in overall.iteration_errors.items():
        kind = key.partition("\x00")[2]
        errors[kind] = errors.get(kind, 0) + n
    return dict(sorted(errors.items(), key=lambda kv: -kv[1]))


__all__ = [
    "STATS_KEYS", "CheckCount", "CustomCounter", "CustomEntry", "CustomGauge", "CustomTiming",
    "GeneratorHealth", "IterationCount", "MessageEntry", "StatsKey", "StatsRow", "UsersStarted",
    "checks_summary", "custom_summary", "error_samples", "errors_summary", "generator_summary",
    "iterations_summary", "latency_basis", "messages_summary", "startup_cpu_s", "startup_s",
    "stats_summary",
    "summary_warnings", "users_started", "workers_lost"]
