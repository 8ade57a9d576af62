"""What a source delivers for one interval: :class:`Payload` (per-name stats, custom metrics and
a :class:`SourceStatus`), and how several payloads of one interval merge into one.

Plain, mergeable data: the engine in this process and every Dask worker produce it, the monitor
merges it on its own ticks, :mod:`~loadnb.metrics.codec` carries it between processes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .connections import ConnectStats
from .custom import CustomMetric
from .messages import MessageStats
from .stats import IntervalStats, merge_by_name

#: Phases a source can be in, from least to most advanced.
PHASES: tuple[str, ...] = ("idle", "running", "ending", "done")


@dataclass(slots=True)
class SourceStatus:
    """A source's state at the end of an interval (counts are "now", ``dropped`` is cumulative).

    ``progress`` is the share of the source's plan done (percent) and ``eta`` its estimate of the
    seconds left (NaN when unknown); ``events`` are the live changes made in the interval, as
    ``(elapsed seconds, text)``;
    ``loop_lag_ms``/``cpu_percent`` are the source process's own (NaN: measured by the monitor);
    ``send_lag_p99_ms`` the 99th percentile of the interval's open-model send lags (when each
    arrival's request was written minus when it was due; NaN: none);
    ``workers`` the worker processes generating load behind it (0 for the engine in this process,
    1 for a live worker); ``connected`` the message-stream connections (WebSocket, SSE) open now.
    """

    active_users: int = 0
    in_flight: int = 0
    waiting: int = 0
    target_users: int = 0
    target_rate: float = math.nan
    phase: str = "running"
    dropped: int = 0
    started: int = 0
    progress: float = 0.0
    eta: float = math.nan
    events: list[tuple[float, str]] = field(default_factory=list)
    loop_lag_ms: float = math.nan
    cpu_percent: float = math.nan
    workers: int = 0
    connected: int = 0
    send_lag_p99_ms: float = math.nan


@dataclass(frozen=True, slots=True)
class WorkerInterval:
    """One worker process's part of an interval, as the driver saw it: the requests that ended
    there (answered or failed), its own event-loop lag and CPU (NaN: nothing arrived from it in
    the interval), and whether it was lost."""

    worker: int
    requests: int
    loop_lag_ms: float
    cpu_percent: float
    lost: bool


@dataclass(slots=True)
class Payload:
    """What one source delivers for one interval: per-name request stats, the status, the
    custom metrics updated in the interval (by name), the connections opened in it, the
    message streams' counts (by name), and for a source of worker processes each worker's
    part (``workers``; empty for the engine in this process). Only the driver fills
    ``workers``: the codec carries the rest."""

    stats: dict[str, IntervalStats]
    status: SourceStatus
    custom: dict[str, CustomMetric] = field(default_factory=dict)
    connections: ConnectStats = field(default_factory=ConnectStats)
    messages: dict[str, MessageStats] = field(default_factory=dict)
    workers: tuple[WorkerInterval, ...] = ()
    #: the interval's slowest traced requests: ``(elapsed_time, name, latency_s, trace_id)``
    slowest: list[tuple[float, str, float, str]] = field(default_factory=list)


def _nansum(values: Iterable[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan
    try:
        return math.fsum(finite)
    except (OverflowError, ValueError):  # past the largest float, or inf - inf: as floats add
        return sum(finite)


def _nanmax(values: Iterable[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return max(finite) if finite else math.nan


def merge_status(parts: Sequence[SourceStatus]) -> SourceStatus:
    """One status for the run: counts and targets add up; the phase is the least advanced one
    (a run is running while any source runs); progress is the mean share done and the estimate
    the longest; the worst lags and CPU."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return SourceStatus(phase="idle")
    return SourceStatus(
        active_users=sum(p.active_users for p in parts),
        in_flight=sum(p.in_flight for p in parts), waiting=sum(p.waiting for p in parts),
        target_users=sum(p.target_users for p in parts),
        target_rate=_nansum(p.target_rate for p in parts),
        phase=min((p.phase for p in parts), key=PHASES.index),
        dropped=sum(p.dropped for p in parts), started=sum(p.started for p in parts),
        progress=sum(p.progress for p in parts) / len(parts),
        eta=_nanmax(p.eta for p in parts),
        events=[e for p in parts for e in p.events],
        loop_lag_ms=_nanmax(p.loop_lag_ms for p in parts),
        cpu_percent=_nanmax(p.cpu_percent for p in parts),
        workers=sum(p.workers for p in parts), connected=sum(p.connected for p in parts),
        send_lag_p99_ms=_nanmax(p.send_lag_p99_ms for p in parts))


def merge_payloads(payloads: Sequence[Payload]) -> Payload:
    """The payloads of every source for one interval, as one (stats and custom metrics merged
    per name; custom metrics as parts of one interval: a gauge's last values add up). A custom
    name that two sources use with different kinds keeps both, the later as ``"name (kind)"``."""
    if len(payloads) == 1:
        return payloads[0]
    stats: dict[str, IntervalStats] = {}
    for payload in payloads:
        merge_by_name(stats, payload.stats)
    custom: dict[str, CustomMetric] = {}
    for payload in payloads:
        for name, metric in payload.custom.items():
            mine = custom.get(name)
            if mine is not None and mine.kind != metric.kind:
                name = f"{name} ({metric.kind})"
                mine = custom.get(name)
            if mine is None:
                custom[name] = mine = CustomMetric(name, metric.kind)
            mine.merge(metric, later=False)
    connections = ConnectStats()
    messages: dict[str, MessageStats] = {}
    for payload in payloads:
        connections.merge(payload.connections)
        for name, part in payload.messages.items():
            stream = messages.get(name)
            if stream is None:
                messages[name] = stream = MessageStats(name, part.kind)
            stream.merge(part)
    slowest = sorted((s for p in payloads for s in p.slowest), key=lambda s: -s[2])
    keep = max(len(p.slowest) for p in payloads)
    return Payload(stats, merge_status([p.status for p in payloads]), custom,
                   connections=connections, messages=messages, slowest=slowest[:keep],
                   workers=tuple(w for p in payloads for w in p.workers))


__all__ = ["PHASES", "Payload", "SourceStatus", "WorkerInterval", "merge_payloads",
           "merge_status"]
