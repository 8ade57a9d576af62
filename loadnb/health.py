"""Generator health: is the generator, not the target, the bottleneck?

A load tester whose own process is saturated measures itself. :class:`HealthCheck` looks at each
snapshot's generator series (process CPU, event-loop lag, dropped arrivals, requests waiting for a
connection) and says so, in plain words, once per cause and run. Its warnings reach the widget's
alert area, the console and the summary through the run's warning list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .snapshot import Snapshot

#: Process CPU (percent of one core) above which the generator counts as saturated.
CPU_LIMIT = 90.0
#: Event-loop lag (ms) above which requests are being delayed by the generator itself.
LAG_LIMIT_MS = 50.0
#: A lag this large is reported at once, without waiting for a second interval.
LAG_SEVERE_MS = 250.0
#: Consecutive intervals a condition must last (one busy tick is not a bottleneck).
SUSTAIN = 2


@dataclass
class HealthCheck:
    """Watches snapshots; calls ``warn(key, text)`` when the generator is the bottleneck."""

    warn: Callable[[str, str], None]
    pool_size: int = 0
    max_in_flight: int = 0
    _cpu_streak: int = 0
    _lag_streak: int = 0
    _wait_streak: int = 0
    _dropped: int = 0

    def __call__(self, snap: Snapshot) -> None:
        if snap.phase == "done":
            return
        self._check_cpu(snap)
        self._check_lag(snap)
        self._check_dropped(snap)
        self._check_waiting(snap)

    def _check_cpu(self, snap: Snapshot) -> None:
        self._cpu_streak = self._cpu_streak + 1 if snap.cpu_percent > CPU_LIMIT else 0
        if self._cpu_streak >= SUSTAIN:
            self.warn("cpu", f"Generator bottleneck: loadnb's process used {snap.cpu_percent:.0f}% "
                             "of a CPU core, so the results may measure the generator rather than "
                             "the target. Lower the load or spread it over more processes.")

    def _check_lag(self, snap: Snapshot) -> None:
        lag = snap.loop_lag_ms
        self._lag_streak = self._lag_streak + 1 if lag > LAG_LIMIT_MS else 0
        if self._lag_streak >= SUSTAIN or lag > LAG_SEVERE_MS:
            self.warn("lag", f"Generator bottleneck: the event loop ran up to {lag:.0f} ms late, "
                             "so requests were sent late and latencies include that delay. "
                             "Something in this process (a blocking call, another busy task) "
                             "is holding the loop.")

    def _check_dropped(self, snap: Snapshot) -> None:
        if snap.dropped_arrivals > self._dropped:
            self.warn("dropped", f"Arrivals dropped: {snap.dropped_arrivals:,} requests were not "
                                 f"sent because {self.max_in_flight:,} were already in flight "
                                 "(max_in_flight). The target is slower than the arrival rate, "
                                 "or max_in_flight is too low.")
        self._dropped = snap.dropped_arrivals

    def _check_waiting(self, snap: Snapshot) -> None:
        waiting = snap.waiting_for_connection
        self._wait_streak = self._wait_streak + 1 if waiting > 0 else 0
        if self._wait_streak >= SUSTAIN:
            self.warn("waiting", f"Requests are waiting for a free connection ({waiting:,} at "
                                 f"once; pool of {self.pool_size:,}): latencies include that wait. "
                                 "Raise connections to match the load.")
