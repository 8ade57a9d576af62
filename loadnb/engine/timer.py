"""Precise short sleeps for the open-model pacer, without spinning.

Event loops round timers to whole milliseconds (uvloop: a 0.4 ms sleep wakes at once, so a
naive pacer spins a core; the standard loop: it wakes 1 ms late). On Linux a ``timerfd`` watched
by the loop wakes it within microseconds at no CPU cost. Elsewhere sleeps are at least 1 ms, which
keeps the pacer off the CPU at the price of up to 1 ms of scheduling delay.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


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
        self._waiter: asyncio.Future[None] | None = None
        self._libc: ctypes.CDLL | None = None
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
        self._libc, self._fd = libc, fd
        self._loop.add_reader(fd, self._fired)

    def _fired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` (precise on Linux; at least 1 ms elsewhere)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        if self._fd < 0 or self._libc is None:
            await asyncio.sleep(max(seconds, 0.001))
            return
        whole = int(seconds)
        value = _Itimerspec(_Timespec(0, 0), _Timespec(whole, int((seconds - whole) * 1e9) or 1))
        if self._libc.timerfd_settime(self._fd, 0, ctypes.byref(value), None) != 0:
            await asyncio.sleep(max(seconds, 0.001))
            return
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        """Stop watching the timer and release it."""
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1


__all__ = ["PreciseSleeper"]
