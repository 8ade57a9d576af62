"""Watching a local process (the target, when it runs on this machine) with psutil.

:class:`ProcessWatcher` has the scraper's shape (``start``/``take``/``aclose``) and gives, at each
``take()``, these series (``PID`` the process id):

=====================================  ========================================================
``server.process.cpu_percent{pid="PID"}``  CPU used since the last take, in % of one core (a
                                       process busy on two cores shows 200)
``server.process.rss_bytes{pid="PID"}``    resident memory, bytes
``server.process.threads{pid="PID"}``      threads
``server.process.open_fds{pid="PID"}``     open file descriptors (handles on Windows)
=====================================  ========================================================

A process that ends (or becomes unreadable) is one warning and NaN from then on. One ``take()``
costs a few reads of ``/proc`` (about 0.1 ms), once per tick.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import psutil

__all__ = ["SERIES", "ProcessWatcher"]

#: The series' metric names, in the order given.
SERIES = ("cpu_percent", "rss_bytes", "threads", "open_fds")


class ProcessWatcher:
    """Samples process ``pid`` once per ``take()``; ValueError at once when there is no such
    process or it cannot be read."""

    def __init__(self, pid: int, *, warn: Callable[[str], None] | None = None) -> None:
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise ValueError(f"watch pid must be a positive integer, got {pid!r}")
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
            self._proc.memory_info()
        except psutil.NoSuchProcess:
            raise ValueError(f"watch pid: no process {pid}") from None
        except psutil.AccessDenied:
            raise ValueError(f"watch pid: process {pid} cannot be read (access denied)") from None
        self.pid = pid
        self.names = tuple(f'server.process.{s}{{pid="{pid}"}}' for s in SERIES)
        self.warnings: list[str] = []
        self._warn = warn

    async def start(self) -> None:
        """Start measuring CPU from now (the first ``take()`` covers the time since)."""
        self._cpu()

    def take(self) -> dict[str, float]:
        """The process's current values (NaN once it has ended). Never raises."""
        proc = self._proc
        if proc is None:
            return dict.fromkeys(self.names, math.nan)
        try:
            with proc.oneshot():
                values = (self._cpu(), float(proc.memory_info().rss), float(proc.num_threads()),
                          float(_fds(proc)))
        except (psutil.Error, OSError) as exc:
            self._proc = None
            self._say(f"watched process {self.pid} can no longer be read "
                      f"({type(exc).__name__}): its server.process.* series stop")
            return dict.fromkeys(self.names, math.nan)
        return dict(zip(self.names, values, strict=True))

    async def aclose(self) -> None:
        """Stop watching."""
        self._proc = None

    def _cpu(self) -> float:
        return float(self._proc.cpu_percent(interval=None)) if self._proc else math.nan

    def _say(self, text: str) -> None:
        self.warnings.append(text)
        if self._warn is not None:
            with contextlib.suppress(Exception):
                self._warn(text)


def _fds(proc: psutil.Process) -> int:
    if hasattr(proc, "num_fds"):
        return int(proc.num_fds())
    return int(getattr(proc, "num_handles")())  # noqa: B009 - Windows only, not in the stubs
