"""The open model's side of the engine: the pacer's wake-ups and the arrivals they start.

:class:`OpenModel` is the part of :class:`~loadnb.engine.generator.Engine` that runs the open
model: the pacer wakes (a timerfd callback, no task) and starts every arrival due by then,
straight into the work's :class:`~loadnb.transport.base.OpenLane` when it has one (the fast
transport, a target-URL test: no task per arrival), else as a task each; arrivals beyond
``max_in_flight`` are counted dropped. It keeps the send lags and gives their p99 per tick.
"""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np

from ..metrics.stats import NameStats, Recorder
from ..spec.config import LoadSpec
from ..transport.base import OpenLane
from .timer import BATCH, PACE_GAP, Pacer, PreciseSleeper
from .work import Work

__all__ = ["BIN_AT", "CUT_FROM", "OpenModel", "kth", "p99_ms"]

#: Raw response times the lane's accumulator holds before a wake-up of the pacer buckets them
#: (:meth:`~loadnb.metrics.stats.NameStats.bin`, ~0.05 ms a time): at high rates the tick would
#: otherwise bucket a whole interval's at once and hold the loop while arrivals come due.
BIN_AT = 4096
#: Lags from which :func:`kth` cuts the tail out before partitioning.
CUT_FROM = 4096


def p99_ms(lags: array[float]) -> float:
    """The 99th percentile (ms) of ``lags`` (seconds): the smallest lag at least 99 % of them do
    not exceed; NaN if none. ``lags`` is emptied.

    >>> p99_ms(array("d", [0.001] * 99 + [0.5]))
    1.0
    """
    if not lags:
        return math.nan
    # Read in place: a copy is a fresh allocation of up to a few hundred KB, whose first touch
    # (page faults) costs more than the percentile itself.
    values = np.frombuffer(lags, dtype=np.float64)
    try:
        return kth(values, max(0, math.ceil(0.99 * values.size) - 1)) * 1e3
    finally:
        del values  # (the array cannot be resized while a view of it lives)
        del lags[:]


def kth(values: np.ndarray[Any, np.dtype[np.float64]], k: int) -> float:
    """The ``k``-th smallest of ``values`` (from 0), exactly. For a value near the top of many
    (a p99), the values from a threshold up are cut out first and only they are partitioned:
    ~0.07 ms at 40,000 values where partitioning them all takes ~0.4 ms, in the tick that
    holds the loop while arrivals come due. The threshold (a quantile of every 16th value) is
    below the answer exactly when at least ``n - k`` values reach it; else all are partitioned.
    """
    n = values.size
    above = n - k  # the answer and the values after it, in order
    if n >= CUT_FROM and 4 * above < n:
        sample = values[::16]
        j = max(0, sample.size - 2 * (above // 16) - 8)  # ~twice the tail's share, and more
        tail = values[values >= np.partition(sample, j)[j]]
        if tail.size >= above:
            i = tail.size - above
            return float(np.partition(tail, i)[i])
    return float(np.partition(values, k)[k])  # (np.partition: no lazy import, O(n))


class OpenModel:
    """The open model's wake-ups and arrivals (a base of the engine, which sets these)."""

    spec: LoadSpec
    recorder: Recorder
    work: Work
    clock: Callable[[], float]
    t0: float
    started: int
    limit: float
    dropped: int
    closed: bool
    send_lags: array[float]
    _requests: set[asyncio.Task[None]]
    _lane: OpenLane | None
    _acc: NameStats
    _cap: int
    _pacer: Pacer | None
    _sleeper: PreciseSleeper | None
    _pacer_error: BaseException | None
    _ticking: bool  # the sleeper ticks every BATCH (a periodic timer)

    def target(self, elapsed: float) -> float:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def may_start(self, now: float | None = None) -> bool:
        raise NotImplementedError

    def spawn(self, coro: Coroutine[None, None, None],
              owner: set[asyncio.Task[None]] | None = None) -> asyncio.Task[None]:
        raise NotImplementedError

    def take_send_lag(self) -> float:
        """The 99th percentile of the send lags (ms) since the last call; NaN if none."""
        return p99_ms(self.send_lags)

    async def warm_up(self) -> None:
        """Before the load starts (and the run's clock): the open model on a lane opens the
        connections its first arrivals need, so they are not late for a connect."""
        if self.spec.rate is not None and self._lane is None:
            self._lane = self.work.lane()
            if self._lane is not None:
                await self._lane.warm(self.target(0.0))

    def ready_pacer(self) -> None:
        """The open model, before the run's clock starts: the lane its arrivals go to (if the
        work has one) and the pacer's timer (a timerfd: making it is a few system calls), so
        the first arrivals, due as the clock starts, leave then."""
        if self._lane is None:
            self._lane = self.work.lane()
        self._acc = self.recorder.stats_for(self.spec.request_name)  # the lane's one name
        if self._lane is not None:
            self._lane.pace = self._pace
        self._sleeper = PreciseSleeper(asyncio.get_running_loop())
        self._ticking = False

    def _start_pacer(self) -> None:
        """The open model, as the clock starts (after :meth:`ready_pacer`): the pacer wakes (a
        timerfd callback, no task) and starts every arrival due by then; arrivals go to the
        work's lane, or are tasks without one."""
        duration = math.inf if self.spec.duration is None else self.spec.duration
        self._pacer = Pacer(self.target, duration, self.t0)
        asyncio.get_running_loop().call_soon(self._pace)

    def _pace(self) -> None:
        """One wake-up of the pacer (its timer, or a response of the lane once the next arrival
        is due: :data:`~loadnb.engine.timer.PACE_GAP`): the arrivals due, then the next
        wake-up. At high rates the timer's wake-ups fall on the grid of a periodic timer
        (every :data:`~loadnb.engine.timer.BATCH`), set once: a wake-up then costs no timer
        call."""
        pacer, sleeper = self._pacer, self._sleeper
        if self.closed or pacer is None or sleeper is None:
            return
        try:
            now = self.clock() - self.t0
            dues = pacer.due(now)
            if (dues and not self._arrive(dues)) or pacer.ended or now >= pacer.duration:
                self.close()
                return
            if len(self._acc.latency) >= BIN_AT:
                self._acc.bin()
            woke = pacer.woke
            at = pacer.wake(now)
            if self._lane is not None:
                # a response from this time on calls _pace too: once the next arrival is due,
                # but not within PACE_GAP of now, nor after the wake-up asked for
                due = pacer.next_due
                if due < now + PACE_GAP:
                    due = now + PACE_GAP
                self._lane.due_at = self.t0 + (due if due < at else at)
            if at != woke and (at != woke + BATCH or woke > now or not self._ticking):
                # not the timer's next tick: set it (to tick every BATCH from then on)
                sleeper.call_later(max(0.0, self.t0 + at - self.clock()), self._pace, BATCH)
                self._ticking = sleeper.precise
        except BaseException as exc:  # a bug: end the run (run() raises it), never hang it
            self._pacer_error = exc
            self.close()

    def _arrive(self, dues: list[float]) -> bool:
        """Start the arrivals due at ``dues`` (clock readings), those beyond the in-flight cap
        counted dropped; False once the run is closed (at its request count)."""
        lane = self._lane
        if lane is None:
            return all(self._arrive_task(intended) for intended in dues)
        if self.closed:
            return False
        # In bulk, as they would be one by one: nothing ends while they are sent, so the first
        # ones fit under the cap and the rest are dropped, unless the run reaches its count.
        n, fit = len(dues), self._cap - lane.in_flight
        if fit >= n:
            fit = n
        elif fit < 0:
            fit = 0
        if fit <= self.limit - self.started:
            if fit < n:
                self.dropped += n - fit
        else:
            fit = int(self.limit - self.started)
        if fit:
            self.started += fit
            self._acc.started += fit
            lane.send(dues if fit == n else dues[:fit])
        if self.started >= self.limit:
            self.close()
            return False
        return True

    def _arrive_task(self, intended: float) -> bool:
        """Start the arrival due at ``intended`` as a task (or count it dropped at the cap);
        False once the run is closed."""
        if not self.may_start(intended):
            return False
        if len(self._requests) < self._cap:  # (its work admits and counts it)
            self.spawn(self.work.begin(self.work.new_user(-1), intended), self._requests)
        else:
            self.dropped += 1
        return True
