"""One interval's snapshot: the merged payload of every source, the run's totals so far and the
times, as the :class:`~loadnb.metrics.snapshot.Snapshot` row (a pure function: no clock, no
record write)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..metrics.connections import ConnectStats
from ..metrics.messages import MessageStats
from ..metrics.payload import SourceStatus
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats

_QS = (50, 90, 95, 99, 100)


@dataclass(frozen=True, slots=True)
class Times:
    """When an interval closed: ``timestamp`` (wall clock), ``elapsed`` since the run's start,
    ``dt`` its length, the process's ``lag_ms`` and ``cpu`` (percent), whether it is ``final``
    and whether it is ``full`` (at least half an interval long: only those can set the peak)."""

    timestamp: float
    elapsed: float
    dt: float
    lag_ms: float
    cpu: float
    final: bool
    full: bool


def make_snapshot(totals: IntervalStats, peak: float, iv: IntervalStats, status: SourceStatus,
                  times: Times, dropped_before: int,
                  messages: Iterable[MessageStats] = ()) -> Snapshot:
    """The snapshot of interval ``iv`` (all names merged) after ``totals`` (the run so far);
    ``messages``: the interval's message streams."""
    sent = received = 0
    for stream in messages:
        sent, received = sent + stream.sent, received + stream.received
    completed, failed = totals.completed + iv.completed, totals.failed + iv.failed
    rps = (iv.completed + iv.failed) / times.dt
    lat, svc = iv.latency.percentiles(_QS), iv.service.percentiles(_QS)
    return Snapshot(
        timestamp=times.timestamp, elapsed_time=times.elapsed,
        progress_percent=status.progress, active_users=status.active_users,
        completed_requests=completed, failed_requests=failed,
        success_rate=100.0 * completed / (completed + failed) if completed + failed
        else math.nan,
        current_rps=rps,
        peak_rps=_peak(peak, rps if times.full else 0.0, completed + failed, times.elapsed),
        estimated_completion=status.eta,
        cancelled_requests=totals.cancelled + iv.cancelled, interval_requests=iv.finished,
        interval_completed=iv.completed, interval_failed=iv.failed,
        p50_ms=lat[0] * 1e3, p90_ms=lat[1] * 1e3, p95_ms=lat[2] * 1e3, p99_ms=lat[3] * 1e3,
        max_ms=lat[4] * 1e3, mean_ms=iv.latency.mean * 1e3,
        service_p50_ms=svc[0] * 1e3, service_p90_ms=svc[1] * 1e3,
        service_p95_ms=svc[2] * 1e3, service_p99_ms=svc[3] * 1e3,
        service_max_ms=svc[4] * 1e3, service_mean_ms=iv.service.mean * 1e3,
        bytes_received=totals.bytes + iv.bytes, target_users=status.target_users,
        target_rate=status.target_rate, in_flight=status.in_flight,
        dropped_arrivals=status.dropped, interval_dropped=status.dropped - dropped_before,
        waiting_for_connection=status.waiting, workers=status.workers,
        connected=status.connected, interval_messages_sent=sent,
        interval_messages_received=received,
        loop_lag_ms=worst(times.lag_ms, status.loop_lag_ms),
        cpu_percent=worst(times.cpu, status.cpu_percent),
        send_lag_p99_ms=status.send_lag_p99_ms,
        phase="done" if times.final else status.phase,
        event="; ".join(text for _, text in status.events),
        interval_errors=dict(iv.errors),
    )


def _peak(peak: float, rps: float, answered: int, elapsed: float) -> float:
    """The peak RPS so far: the busiest interval of at least half an interval's length (a short
    final one would make a spike of a few answers), and never below the run's average so far
    (``answered`` / ``elapsed``, the summary's ``avg_rps``), which a run whose answers all come
    in its short final interval would otherwise be."""
    average = answered / elapsed if elapsed > 0 else 0.0
    return max(peak, rps, average)


def worst(mine: float, theirs: float) -> float:
    """The larger of two measurements, NaN only when both are."""
    if math.isnan(theirs):
        return mine
    return theirs if math.isnan(mine) else max(mine, theirs)


def add_connections(snap: Snapshot, connections: ConnectStats) -> None:
    """The snapshot's connection columns: the connections opened in its interval, their TCP
    connect and TLS handshake percentiles (NaN when there are none)."""
    snap.interval_connections = connections.opened
    if connections.connect.total:
        p50, p95 = connections.connect.percentiles((50, 95))
        snap.connect_p50_ms, snap.connect_p95_ms = p50 * 1e3, p95 * 1e3
    if connections.tls.total:
        p50, p95 = connections.tls.percentiles((50, 95))
        snap.tls_p50_ms, snap.tls_p95_ms = p50 * 1e3, p95 * 1e3


__all__ = ["Times", "add_connections", "make_snapshot", "worst"]
