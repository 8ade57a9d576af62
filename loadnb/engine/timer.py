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
import ctypes.util
import math
import os
import sys
from collections.abc import Callable

#: Longest wait of the pacer, so a rate change is seen within it (seconds).
PACER_STEP = 0.05
#: Shortest wait of the pacer (seconds): at high rates the arrivals due within it leave together
#: at one wake-up, each at most this late. A wake-up (the timerfd read and set, the callback)
#: costs about as much as a send: at most 2,000 of them a second keep it near 1 % of a core.
BATCH = 0.0005
#: An arrival due this close to the end of the duration is due at the end (not sent): the
#: integral of the rate is a sum of rounded steps (seconds).
END_SLACK = 1e-7

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


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

    __slots__ = ("rate", "duration", "start", "area", "last", "k", "ended", "woke")

    def __init__(self, rate: Callable[[float], float], duration: float = math.inf,
                 start: float = 0.0) -> None:
        self.rate, self.duration, self.start = rate, duration, start
        self.area = self.last = 0.0  # the integral up to ``last``
        self.k = 0  # the next arrival
        #: no arrival is left: the next one is due at the end of the duration or after it
        #: (within :data:`END_SLACK`: rounding must not add one)
        self.ended = False
        self.woke = -math.inf  # the last wake-up asked for (seconds since the start)

    def due(self, now: float) -> list[float]:
        """The times of the arrivals due by ``now`` and not given before, in order (they
        leave together: one wake-up, one batch), as clock readings: ``start`` + their time."""
        now, rate, end = min(now, self.duration), self.rate, self.duration - END_SLACK
        area, last, k, start = self.area, self.last, self.k, self.start
        out: list[float] = []
        while last < now:
            step_end = min(now, last + PACER_STEP)
            span = step_end - last
            grown = (rate(last) + rate(step_end)) / 2.0 * span
            while area + grown >= k:  # (area <= k: arrival k is due in this step)
                due = last + (k - area) / grown * span if grown else last
                if due >= end:
                    self.ended = True
                    return out
                out.append(start + due)
                k += 1
            area, last = area + grown, step_end
            self.area, self.last, self.k = area, last, k
        return out

    def wake(self, now: float) -> float:
        """When to wake next (seconds since the start), from a wake-up at ``now``: when the
        next arrival is due, but at least :data:`BATCH` after the wake-up asked for last time
        (counted from the schedule, not from when the loop got to it: late wake-ups catch up
        instead of adding up), at most :data:`PACER_STEP` from now and the end of the
        duration."""
        rate = self.rate(now)
        due = now + ((self.k - self.area) / rate if rate > 0 else PACER_STEP)
        self.woke = at = min(max(due, self.woke + BATCH), now + PACER_STEP, self.duration)
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
        self._settime: Callable[..., int] | None = None
        self._value = _Itimerspec()  # one struct, filled in place: no allocation per wake-up
        self._when = self._value.it_value
        self._handle: asyncio.TimerHandle | None = None  # the fallback's timer
        if sys.platform.startswith("linux"):
            try:
                self._open()
            except (OSError, AttributeError, NotImplementedError):
                self._fd = -1

    @property
    def precise(self) -> bool:
        """Whether sleeps are precise (a timerfd) rather than rounded up to 1 ms."""
        return self._fd >= 0

    def _open(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        settime = libc.timerfd_settime
        settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec),
                            ctypes.c_void_p]
        settime.restype = ctypes.c_int
        self._settime, self._fd = settime, fd
        self._loop.add_reader(fd, self._fired)

    def _fired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        self._run()

    def call_later(self, seconds: float, callback: Callable[[], None]) -> None:
        """Call ``callback()`` from the loop in ``seconds`` (precise on Linux; at least 1 ms
        elsewhere), in place of the one asked for before, if it has not run yet. With no
        future or task made, it is the pacer's wake-up."""
        self._callback = callback
        if self._fd >= 0 and self._settime is not None:
            whole, when = int(seconds), self._when
            when.tv_sec, when.tv_nsec = whole, int((seconds - whole) * 1e9) or 1
            if self._settime(self._fd, 0, self._value, None) == 0:
                return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(max(seconds, 0.001), self._fired_late)

    def _fired_late(self) -> None:
        self._handle = None
        self._run()

    def _run(self) -> None:
        callback, self._callback = self._callback, None
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
        self._callback = None
        if self._handle is not None:
            self._handle.cancel()
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1


__all__ = ["BATCH", "END_SLACK", "PACER_STEP", "Pacer", "PreciseSleeper"]
