"""The open model's clockwork: when arrivals are due (:class:`Pacer`), and precise short waits
between them without spinning (:class:`PreciseSleeper`).

Event loops round timers to whole milliseconds (uvloop: a 0.4 ms sleep wakes at once, so a
naive pacer spins a core; the standard loop: it wakes 1 ms late). On Linux a ``timerfd`` watched
by the loop wakes it within microseconds at no CPU cost. Elsewhere sleeps are at least 1 ms, which
keeps the pacer off the CPU at the price of up to 1 ms of scheduling delay.
"""

from __future__ import annotations

import asyncio
import ctypes
import math
import os
import sys
from array import array
from collections.abc import Callable

#: Longest wait of the pacer, so a rate change is seen within it (seconds).
PACER_STEP = 0.05
#: Shortest wait of the pacer (seconds): at high rates the arrivals due within it leave together
#: at one wake-up, each at most this late. A wake-up (the timerfd read and set, the callback)
#: costs about as much as a send: at most 2,000 of them a second keep it near 1 % of a core.
BATCH = 0.0005
#: Shortest time between two paces that responses cause (seconds): a response that comes once
#: the next arrival is due sends the arrivals due then, between the pacer's own wake-ups, so they
#: leave near their time rather than up to :data:`BATCH` late (the send lag's median: 0.3 ms on
#: the grid alone, 0.1 ms with them, at no more CPU a request at 80,000/s).
PACE_GAP = 0.0001
#: An arrival due this close to the end of the duration is due at the end (not sent): the
#: integral of the rate is a sum of rounded steps (seconds).
END_SLACK = 1e-7

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000


class Pacer:
    """When the open model's arrivals are due, for a target rate that changes over time.

    Arrival k is due when the integral of the rate reaches k. The integral is taken in steps of
    at most :data:`PACER_STEP` (trapezoids: exact for constant rates, ramps and stages) and each
    arrival's time is interpolated inside its step, so latency is measured from when it was due.
    Times are seconds since the start; the arrivals' are given as ``start`` + their time.

    Example::

        pacer = Pacer(lambda t: 100.0, duration=10.0)
        pacer.due(0.05)    # [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]
        pacer.wake(0.05)   # 0.06: the next one is due then
    """

    __slots__ = ("rate", "duration", "start", "area", "last", "k", "ended", "woke", "at_last",
                 "next_due")

    def __init__(self, rate: Callable[[float], float], duration: float = math.inf,
                 start: float = 0.0) -> None:
        self.rate, self.duration, self.start = rate, duration, start
        self.area = self.last = 0.0  # the integral up to ``last``
        self.k = 0  # the next arrival
        #: no arrival is left: the next one is due at the end of the duration or after it
        #: (within :data:`END_SLACK`: rounding must not add one)
        self.ended = False
        self.woke = -math.inf  # the last wake-up asked for (seconds since the start)
        #: the rate at ``last``, kept from the step that ended there (one call of ``rate`` per
        #: step, not three a wake-up); None: ask ``rate`` (see :meth:`changed`)
        self.at_last: float | None = None
        self.next_due = 0.0  # when the next arrival is due, as the last wake() saw it

    def changed(self) -> None:
        """The rate changed from now on (a live override): ask for it again, not the kept one."""
        self.at_last = None

    def due(self, now: float) -> list[float]:
        """The times of the arrivals due by ``now`` and not given before, in order (they
        leave together: one wake-up, one batch), as clock readings: ``start`` + their time."""
        if now > self.duration:  # (comparisons, not min(): this runs at every wake-up)
            now = self.duration
        area, last, k, start, r0 = self.area, self.last, self.k, self.start, self.at_last
        rate = self.rate
        out: list[float] = []
        while last < now:
            if r0 is None:
                r0 = rate(last)
            step_end = last + PACER_STEP
            if step_end > now:
                step_end = now
            span = step_end - last
            r1 = rate(step_end)
            grown = (r0 + r1) / 2.0 * span
            top = math.floor(area + grown)  # arrivals k..top are due in this step
            if top >= k:
                if grown and last + (top - area) / grown * span < self.duration - END_SLACK:
                    every = span / grown  # (two float operations an arrival, not five)
                    base = start + last - area * every
                    out += [base + j * every for j in range(k, top + 1)]
                elif self._ending(out, last, area, grown, span, k, top):
                    return out
                k = top + 1
            area, last, r0 = area + grown, step_end, r1
            self.area, self.last, self.k, self.at_last = area, last, k, r0
        return out

    def _ending(self, out: list[float], last: float, area: float, grown: float, span: float,
                k: int, top: int) -> bool:
        """Add to ``out`` the arrivals k..top of a step whose last one is due at the end (or a
        step of no rate) that are due before the end; True (:attr:`ended`) if one is not."""
        end = self.duration - END_SLACK
        for j in range(k, top + 1):
            due = last + (j - area) / grown * span if grown else last
            if due >= end:
                self.ended = True
                return True
            out.append(self.start + due)
        return False

    def wake(self, now: float) -> float:
        """When to wake next (seconds since the start), from a wake-up at ``now``: when the
        next arrival is due, but at least :data:`BATCH` after the wake-up asked for last time
        (counted from the schedule, not from when the loop got to it: late wake-ups catch up
        instead of adding up), at most :data:`PACER_STEP` from now and the end of the
        duration. Called again before the wake-up asked for has come (from a response), it
        keeps that one: so at high rates the wake-ups fall every :data:`BATCH` on one grid
        (a periodic timer's, set once: see the engine's pacer)."""
        rate = self.at_last if self.last == now and self.at_last is not None else self.rate(now)
        due = self.next_due = now + ((self.k - self.area) / rate if rate > 0 else PACER_STEP)
        at = self.woke
        if at <= now:
            at += BATCH
        if at < due:
            at = due
        if at > now + PACER_STEP:
            at = now + PACER_STEP
        if at > self.duration:
            at = self.duration
        self.woke = at
        return at


class PreciseSleeper:
    """``await sleeper.sleep(seconds)`` with sub-millisecond precision; ``close()`` when done.

    Example::

        sleeper = PreciseSleeper(asyncio.get_running_loop())
        await sleeper.sleep(0.0004)
        sleeper.close()
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._fd = -1
        self._callback: Callable[[], None] | None = None
        self._period = 0.0  # the callback is called again every this many seconds (0: once)
        self._settime: Callable[..., int] | None = None
        # struct itimerspec {interval, value} as four C longs, filled in place and passed by
        # address (no ctypes struct or argument conversion per wake-up: a third of the cost)
        self._spec = array("l", [0, 0, 0, 0])
        self._address = ctypes.c_void_p(self._spec.buffer_info()[0])
        self._handle: asyncio.TimerHandle | None = None  # the fallback's timer
        if sys.platform.startswith("linux") and self._spec.itemsize == 8:
            try:
                self._open()
            except (OSError, AttributeError, NotImplementedError):
                self._fd = -1

    @property
    def precise(self) -> bool:
        """Whether sleeps are precise (a timerfd) rather than rounded up to 1 ms."""
        return self._fd >= 0

    def _open(self) -> None:
        # The process's own symbols, libc's among them: ctypes.util.find_library("c") would run
        # `ldconfig -p` in a subprocess (milliseconds) to find the same library.
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._settime, self._fd = libc.timerfd_settime, fd  # (int, int, pointer, NULL) -> int
        self._loop.add_reader(fd, self._fired)

    def _fired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        callback = self._callback  # (_run(), inline: the pacer's every wake-up comes here)
        if self._period <= 0:
            self._callback = None
        if callback is not None:
            callback()

    def call_later(self, seconds: float, callback: Callable[[], None],
                   period: float = 0.0) -> None:
        """Call ``callback()`` from the loop in ``seconds`` (precise on Linux; at least 1 ms
        elsewhere), in place of the one asked for before, if it has not run yet; with a
        ``period``, again every ``period`` seconds after that (on the timer's own grid: late
        calls do not shift the next ones) until the next ``call_later`` or :meth:`cancel`. With
        no future or task made, it is the pacer's wake-up."""
        self._callback, self._period = callback, period
        if self._fd >= 0 and self._settime is not None:
            spec, whole, every = self._spec, int(seconds), int(period * 1e9)
            spec[0], spec[1] = divmod(every, 1_000_000_000)
            spec[2], spec[3] = whole, int((seconds - whole) * 1e9) or 1
            if self._settime(self._fd, 0, self._address, None) == 0:
                return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(max(seconds, 0.001), self._fired_late)

    def cancel(self) -> None:
        """No further call (the one asked for, and the period's)."""
        self._callback, self._period = None, 0.0
        if self._fd >= 0 and self._settime is not None:
            self._spec[0] = self._spec[1] = self._spec[2] = self._spec[3] = 0
            self._settime(self._fd, 0, self._address, None)
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fired_late(self) -> None:
        self._handle = None
        if self._period > 0:  # (the fallback's period: from now, at least 1 ms)
            self._handle = self._loop.call_later(max(self._period, 0.001), self._fired_late)
        self._run()

    def _run(self) -> None:
        callback = self._callback
        if self._period <= 0:
            self._callback = None
        if callback is not None:
            callback()

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` (precise on Linux; at least 1 ms elsewhere)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter = self._loop.create_future()
        self.call_later(seconds, lambda: None if waiter.done() else waiter.set_result(None))
        await waiter

    def close(self) -> None:
        """Stop watching the timer and release it."""
        self._callback, self._period = None, 0.0
        if self._handle is not None:
            self._handle.cancel()
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1


__all__ = ["BATCH", "END_SLACK", "PACER_STEP", "Pacer", "PreciseSleeper"]
