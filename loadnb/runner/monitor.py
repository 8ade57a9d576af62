"""The monitor: every interval, the sources' payloads become one :class:`Snapshot`, which is added
to the run record and then handed to every sink.

Sources → monitor → sinks. A source (the local engine today, Dask workers later) delivers
mergeable interval stats and a small status (:mod:`loadnb.source`); the monitor merges them on
its own interval boundaries, measures its process's event-loop lag and CPU, builds the snapshot,
adds it to the :class:`~loadnb.record.RunRecord`, and calls the sinks in order (the alert engine
first, then the faces and writers). A sink that raises is removed with a warning: a face can
never stop the load. Clocks are injected (``clock`` for intervals, ``wall`` for timestamps,
``cpu`` for the process CPU time), so timing behaviour is testable on a fixed sequence of ticks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence

from ..engine.source import Source
from ..metrics.payload import SourceStatus, merge_payloads
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats, merge_intervals
from ..record.record import RunRecord

Clock = Callable[[], float]
Sink = Callable[[Snapshot], None]
_QS = (50, 90, 95, 99, 100)
#: How often the loop-lag probe wakes up between ticks (seconds).
PROBE = 0.02


class Monitor:
    """Turns the sources' intervals into snapshots in ``record`` and fans them out to ``sinks``.

    ``sinks`` is the caller's list: sinks added to it later receive the following snapshots.

    Example::

        monitor = Monitor([LocalSource(engine, recorder, transport)], record, [print],
                          interval=0.5)
        monitor.begin()
        task = asyncio.create_task(monitor.run())  # ... then monitor.tick(final=True)
    """

    def __init__(self, sources: Sequence[Source], record: RunRecord, sinks: list[Sink], *,
                 interval: float, clock: Clock = time.perf_counter, wall: Clock = time.time,
                 cpu: Clock = time.process_time) -> None:
        self.sources = list(sources)
        self.record = record
        self.sinks = sinks
        self.interval = interval
        self._clock, self._wall, self._cpu = clock, wall, cpu
        self.t0 = math.nan
        self._last_t = math.nan
        self._last_cpu = 0.0
        self._last_dropped = 0
        self._lag = 0.0

    def begin(self) -> None:
        """Mark the start of the run's clock and of its first interval: when the load starts
        (what comes before, such as starting a cluster, is start-up, not load)."""
        self.t0 = self._last_t = self._clock()
        self._last_cpu = self._cpu()

    async def run(self) -> None:
        """Tick every ``interval`` after :meth:`begin` until cancelled, on a fixed schedule.

        Between ticks it wakes every :data:`PROBE` seconds and measures how late each wake-up is:
        the event-loop lag, the delay any request start suffers too.
        """
        clock, interval = self._clock, self.interval
        probe = min(PROBE, interval / 5)
        due = (clock() if math.isnan(self.t0) else self.t0) + interval
        while True:
            wake = min(due, clock() + probe)
            await asyncio.sleep(max(0.0, wake - clock()))
            now = clock()
            self._lag = max(self._lag, now - wake)
            if now < due:
                continue
            self.tick(lag=self._lag)
            self._lag = 0.0
            due += interval
            if due - now < interval / 2:  # fell behind: realign rather than tick twice quickly
                due = now + interval

    def tick(self, *, lag: float = math.nan, final: bool = False,
             end: float | None = None) -> Snapshot:
        """Close the current interval: collect every source, record the snapshot, tell the sinks
        (``final``: the run has ended; sources settle what never ended as cancelled; ``end``:
        the clock's reading when the load ended, if that was before now: tearing down is not
        load)."""
        payload = merge_payloads([s.collect(final=final) for s in self.sources])
        now, cpu_now = self._clock() if end is None else end, self._cpu()
        dt = max(now - self._last_t, 1e-9)
        cpu = 100.0 * (cpu_now - self._last_cpu) / dt if dt >= 0.01 else math.nan
        self._last_t, self._last_cpu = now, cpu_now
        iv = merge_intervals(payload.stats.values())
        status = payload.status
        snap = self._snapshot(iv, status, now, dt, _worst(lag * 1e3, status.loop_lag_ms),
                              _worst(cpu, status.cpu_percent), final)
        self.record.events.extend(status.events)
        self.record.add(snap, iv, payload.stats, dt, custom=payload.custom)
        self._publish(snap)
        return snap

    def _publish(self, snap: Snapshot) -> None:
        for sink in list(self.sinks):
            try:
                sink(snap)
            except Exception as exc:  # noqa: BLE001 - a face must not break the run
                if sink in self.sinks:
                    self.sinks.remove(sink)
                self.record.warn(f"subscriber {sink!r} failed and was removed: {exc!r}")

    def _snapshot(self, iv: IntervalStats, status: SourceStatus, now: float, dt: float,
                  lag_ms: float, cpu: float, final: bool) -> Snapshot:
        record = self.record
        totals = record.overall
        completed, failed = totals.completed + iv.completed, totals.failed + iv.failed
        rps = (iv.completed + iv.failed) / dt
        elapsed = max(0.0, now - self.t0)
        peak = _peak(record.peak_rps, rps if dt >= self.interval / 2 else 0.0,
                     completed + failed, elapsed)
        lat, svc = iv.latency.percentiles(_QS), iv.service.percentiles(_QS)
        dropped, self._last_dropped = status.dropped - self._last_dropped, status.dropped
        return Snapshot(
            timestamp=self._wall(), elapsed_time=elapsed,
            progress_percent=status.progress, active_users=status.active_users,
            completed_requests=completed, failed_requests=failed,
            success_rate=100.0 * completed / (completed + failed) if completed + failed
            else math.nan,
            current_rps=rps, peak_rps=peak, estimated_completion=status.eta,
            cancelled_requests=totals.cancelled + iv.cancelled, interval_requests=iv.finished,
            interval_completed=iv.completed, interval_failed=iv.failed,
            p50_ms=lat[0] * 1e3, p90_ms=lat[1] * 1e3, p95_ms=lat[2] * 1e3, p99_ms=lat[3] * 1e3,
            max_ms=lat[4] * 1e3, mean_ms=iv.latency.mean * 1e3,
            service_p50_ms=svc[0] * 1e3, service_p90_ms=svc[1] * 1e3,
            service_p95_ms=svc[2] * 1e3, service_p99_ms=svc[3] * 1e3,
            service_max_ms=svc[4] * 1e3, service_mean_ms=iv.service.mean * 1e3,
            bytes_received=totals.bytes + iv.bytes, target_users=status.target_users,
            target_rate=status.target_rate, in_flight=status.in_flight,
            dropped_arrivals=status.dropped, interval_dropped=dropped,
            waiting_for_connection=status.waiting, workers=status.workers, loop_lag_ms=lag_ms,
            cpu_percent=cpu,
            phase="done" if final else status.phase,
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


def _worst(mine: float, theirs: float) -> float:
    """The larger of two measurements, NaN only when both are."""
    if math.isnan(theirs):
        return mine
    return theirs if math.isnan(mine) else max(mine, theirs)


__all__ = ["PROBE", "Monitor", "Sink"]
