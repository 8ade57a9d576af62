"""The monitor: every interval, the recorder's swap becomes one :class:`Snapshot` for subscribers.

Clocks are injected (``clock`` for intervals and latency, ``wall`` for timestamps, ``cpu`` for the
process CPU time), so timing behaviour is testable on a fixed sequence of ticks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from .engine import Clock, Engine
from .metrics import IntervalStats, Recorder, merge_intervals
from .snapshot import Snapshot

Subscriber = Callable[[Snapshot], None]
_QS = (50, 90, 95, 99, 100)
#: How often the loop-lag probe wakes up between ticks (seconds).
PROBE = 0.02


class Monitor:
    """Turns the engine's state and the recorder's intervals into snapshots.

    ``on_snapshot`` is called with every snapshot as it is made (the run fans it out to its
    subscribers). ``timeline`` keeps, per interval and request name, the raw
    :class:`IntervalStats` (errors over time, per-name series).
    """

    def __init__(self, engine: Engine, recorder: Recorder, on_snapshot: Subscriber, *,
                 interval: float, clock: Clock = time.perf_counter, wall: Clock = time.time,
                 cpu: Clock = time.process_time) -> None:
        self.engine = engine
        self.recorder = recorder
        self.interval = interval
        self._emit = on_snapshot
        self._clock, self._wall, self._cpu = clock, wall, cpu
        self.totals = IntervalStats("all")
        self.peak_rps = 0.0
        self.errors_timeline: list[tuple[float, str, int]] = []
        self.names_timeline: list[tuple[Any, ...]] = []
        self._last_t = math.nan
        self._last_cpu = 0.0
        self._lag = 0.0
        self._events_seen = 0

    def begin(self) -> None:
        """Mark the start of the first interval (call when the engine starts)."""
        self._last_t = self._clock()
        self._last_cpu = self._cpu()

    async def run(self) -> None:
        """Tick every ``interval`` until cancelled, on a fixed schedule.

        Between ticks it wakes every :data:`PROBE` seconds and measures how late each wake-up is:
        the event-loop lag, the delay any request start suffers too.
        """
        clock, interval = self._clock, self.interval
        probe = min(PROBE, interval / 5)
        due = clock() + interval
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

    def tick(self, *, lag: float = math.nan, final: bool = False) -> Snapshot:
        """Close the current interval and emit its snapshot (``final``: settle cancellations)."""
        now, cpu_now = self._clock(), self._cpu()
        dt = max(now - self._last_t, 1e-9)
        cpu_percent = 100.0 * (cpu_now - self._last_cpu) / dt if dt >= 0.01 else math.nan
        self._last_t, self._last_cpu = now, cpu_now
        by_name = self.recorder.swap(settle=final)
        iv = merge_intervals(by_name.values())
        self.totals.merge(iv)
        snap = self._snapshot(iv, now, dt, lag, cpu_percent, final)
        for kind, count in iv.errors.items():
            self.errors_timeline.append((snap.elapsed_time, kind, count))
        for part in by_name.values():
            if part.finished:
                p50, p90, p99, top = part.latency.percentiles(_QS[:2] + _QS[3:])
                self.names_timeline.append((
                    snap.elapsed_time, part.name, part.finished, part.completed, part.failed,
                    part.finished / dt, p50 * 1e3, p90 * 1e3, p99 * 1e3, top * 1e3))
        self._emit(snap)
        return snap

    def _snapshot(self, iv: IntervalStats, now: float, dt: float, lag: float, cpu: float,
                  final: bool) -> Snapshot:
        engine, totals = self.engine, self.totals
        elapsed = max(0.0, now - engine.t0) if not math.isnan(engine.t0) else 0.0
        answered = iv.completed + iv.failed
        rps = answered / dt
        if dt >= self.interval / 2:
            self.peak_rps = max(self.peak_rps, rps)
        done = totals.completed + totals.failed
        progress, eta = engine.progress(elapsed)
        lat = iv.latency.percentiles(_QS)
        svc = iv.service.percentiles(_QS)
        return Snapshot(
            timestamp=self._wall(), elapsed_time=elapsed, progress_percent=progress,
            active_users=engine.active_users, completed_requests=totals.completed,
            failed_requests=totals.failed,
            success_rate=100.0 * totals.completed / done if done else math.nan,
            current_rps=rps, peak_rps=self.peak_rps, estimated_completion=eta,
            cancelled_requests=totals.cancelled, interval_requests=iv.finished,
            interval_completed=iv.completed, interval_failed=iv.failed,
            p50_ms=lat[0] * 1e3, p90_ms=lat[1] * 1e3, p95_ms=lat[2] * 1e3, p99_ms=lat[3] * 1e3,
            max_ms=lat[4] * 1e3, mean_ms=iv.latency.mean * 1e3,
            service_p50_ms=svc[0] * 1e3, service_p90_ms=svc[1] * 1e3,
            service_p95_ms=svc[2] * 1e3, service_p99_ms=svc[3] * 1e3,
            service_max_ms=svc[4] * 1e3, service_mean_ms=iv.service.mean * 1e3,
            bytes_received=totals.bytes, target_users=engine.target_users(elapsed),
            target_rate=engine.target_rate(elapsed), in_flight=self.recorder.in_flight(),
            dropped_arrivals=engine.dropped, waiting_for_connection=engine.transport.waiting,
            loop_lag_ms=lag * 1e3, cpu_percent=cpu,
            phase="done" if final else engine.phase, event=self._new_events(),
            interval_errors=dict(iv.errors),
        )

    def _new_events(self) -> str:
        """Live changes since the last snapshot, joined (shown as markers on the charts)."""
        events = self.engine.events[self._events_seen:]
        self._events_seen += len(events)
        return "; ".join(text for _, text in events)
