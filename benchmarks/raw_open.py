"""The feature-less open-loop reference: what the wire allows an open model on this machine.

    python -m benchmarks.child raw_open '{"url": ..., "rate": ..., "duration": ...,
                                          "connections": 64, "payload": ...}'

Nothing of loadnb is on its path. ``connections`` plain ``asyncio.Protocol`` connections on
uvloop (the raw client's: the same request bytes, the same parser) are opened before the clock
starts. Arrival k is due at k / ``rate``. A timerfd ticks every 0.5 ms (the grid of loadnb's
pacer at high rates) and writes each due arrival on an idle connection, or queues it (first come,
first served). A completed response writes the first queued arrival on its connection; else the
connection goes idle, and the arrivals due by then leave at once. Beyond 1,000 in flight (loadnb's
``max_in_flight`` default) an arrival is dropped. Each send's lag (written minus due) is kept;
nothing else is recorded (no latency, no timeout, no status).
"""

from __future__ import annotations

import asyncio
import ctypes
import math
import os
import time
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from benchmarks.child import RawConn, cpu_seconds, loop_name, percentiles
from benchmarks.common import waited_seconds

__all__ = ["OpenClient", "raw_open"]

TICK_NS = 500_000  # the timer's period
CAP = 1000  # arrivals in flight (sent or queued), at most
DRAIN = 2.0  # seconds the last responses may take after the last arrival


class Timer:
    """A periodic timerfd watched by the loop (Linux)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Any) -> None:
        libc = ctypes.CDLL(None, use_errno=True)  # (find_library would run ldconfig: ms)
        self.fd = libc.timerfd_create(1, os.O_NONBLOCK | os.O_CLOEXEC)  # CLOCK_MONOTONIC
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        spec = (ctypes.c_long * 4)(0, TICK_NS, 0, TICK_NS)  # interval, then first expiry
        libc.timerfd_settime(self.fd, 0, ctypes.byref(spec), None)
        self.loop, self.callback = loop, callback
        loop.add_reader(self.fd, self._fired)

    def _fired(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return
        self.callback()

    def close(self) -> None:
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


class OpenConn(RawConn):
    """One connection: the raw client's, handing itself back to the open client at each
    response instead of writing the next request."""

    def __init__(self, client: OpenClient) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # (the closed client: none here)
        self.open = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (nothing written yet)

    def on_message_complete(self) -> None:
        self.open.complete(self)

    def connection_lost(self, exc: Exception | None) -> None:
        pass  # (the benchmarks' nginx keeps every connection for the run)


class OpenClient:
    """The schedule, the idle connections, the queue and the counts."""

    def __init__(self, payload: bytes, rate: float, duration: float) -> None:
        self.payload, self.every = payload, 1.0 / rate
        self.asked = math.ceil(rate * duration - 1e-6)
        self.k = 0  # the next arrival
        self.t0 = self.due = math.inf  # the clock's start; when arrival k is due
        self.idle: list[OpenConn] = []
        self.queue: deque[float] = deque()  # due times of the arrivals waiting
        self.in_flight = self.dropped = self.count = 0
        self.lags = array("d")
        self.clock = time.perf_counter
        self.done = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        self.t0 = self.due = self.clock()
        self.pace()

    def pace(self) -> None:
        """Every arrival due by now: written on an idle connection, queued, or dropped."""
        now, payload, lags, idle = self.clock(), self.payload, self.lags, self.idle
        while self.due <= now and self.k < self.asked:
            if self.in_flight >= CAP:
                self.dropped += 1
            elif idle:
                self.in_flight += 1
                lags.append(now - self.due)
                idle.pop().transport.write(payload)  # type: ignore[union-attr]
            else:
                self.in_flight += 1
                self.queue.append(self.due)
            self.k += 1
            self.due = self.t0 + self.k * self.every
        self._maybe_done()

    def complete(self, conn: OpenConn) -> None:
        self.count += 1
        self.in_flight -= 1
        if self.queue:
            self.lags.append(self.clock() - self.queue.popleft())
            conn.transport.write(self.payload)  # type: ignore[union-attr]
            return
        self.idle.append(conn)
        if self.due <= self.clock():
            self.pace()
        else:
            self._maybe_done()

    def _maybe_done(self) -> None:
        if self.k >= self.asked and not self.in_flight and not self.done.done():
            self.done.set_result(None)


async def raw_open(p: dict[str, Any],
                   on_start: Callable[[OpenClient], None] | None = None) -> dict[str, Any]:
    """One open-loop run (see the module's docstring); its counts, lags and CPU. ``on_start``
    is called with the client as its clock starts (``benchmarks/recovery.py`` holds the loop)."""
    parts, loop = urlsplit(p["url"]), asyncio.get_running_loop()
    duration = float(p["duration"])
    client = OpenClient(p["payload"].encode("latin-1"), float(p["rate"]), duration)
    for _ in range(int(p.get("connections") or 64)):
        _, conn = await loop.create_connection(lambda: OpenConn(client), parts.hostname,
                                               parts.port)
        client.idle.append(conn)
    timer = Timer(loop, client.pace)  # (before the clock starts, as loadnb's pacer's timer)
    cpu0, wall0, waited0 = cpu_seconds(), time.perf_counter(), waited_seconds()
    client.start()
    if on_start is not None:
        on_start(client)
    try:
        await asyncio.wait_for(asyncio.shield(client.done), duration + DRAIN)
    except TimeoutError:
        pass
    finally:
        timer.close()
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    lags_ms = [v * 1e3 for v in client.lags]
    return {"requests": client.count, "failed": 0, "asked": client.asked,
            "dropped": client.dropped, "sent": len(client.lags), "cpu": cpu, "wall": wall,
            "waited": waited_seconds() - waited0,
            "seconds": wall, "loop": loop_name(),
            "lag_ms": dict(zip(("p50", "p99", "p99.9", "max"),
                               percentiles(lags_ms, (50, 99, 99.9, 100)), strict=True))}
