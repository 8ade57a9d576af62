"""The fast transport's timeouts: one sweeper task per run instead of a timer per request.

Every ``step`` (at most 25 ms, a twentieth of the timeout) the sweeper counts one *sweep*; the
count (``pool.sweeps``) is the transport's coarse clock, read on the hot path for free where a
clock read costs a call. A request records the count when it was written (or when it began to
wait for a connection: the wait counts toward its timeout), ``since``; it was written before sweep
``since + 1``, so once that sweep is ``timeout`` seconds old it is overdue, never earlier, and is
failed at most two steps late (50 ms, a tenth of the timeout). The sweeper fails the overdue
requests (those on the wire, and the open model's arrivals still waiting for a connection) and
closes the connections idle for :data:`IDLE_TIMEOUT`. (A wait for a pooled connection has its
own timer: :class:`~loadnb.transport.pool.FifoPool`.)
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import Protocol

from .conn import BODY, HEAD, RETIRED, Conn

__all__ = ["IDLE_TIMEOUT", "Swept", "expire_overdue"]

#: Seconds an unused pooled connection stays open (aiohttp's keepalive_timeout): users retired
#: live do not hold their connections, and the server's resources, for the rest of the run.
IDLE_TIMEOUT = 15.0


class Swept(Protocol):
    """What the sweeper reads and counts of the fast transport."""

    sweeps: int  # sweeps so far (the sweeper counts them)
    step: float  # seconds between sweeps
    timeout: float  # seconds a request may take, its wait for a connection included
    live: set[Conn]  # every connection made and not yet lost
    idle: deque[Conn]  # the pool's idle connections, the one idle longest on the left

    def expire(self, overdue: int) -> None:
        """Fail the open model's waiting arrivals with ``since <= overdue``."""


async def expire_overdue(pool: Swept) -> None:
    """Run until cancelled: count the sweeps, fail what is overdue, close what idled too long."""
    step, timeout = pool.step, pool.timeout
    marks: deque[tuple[int, float]] = deque([(pool.sweeps, -math.inf)])  # (sweep, its time)
    overdue = -1  # requests with since <= overdue are overdue
    idle_sweeps = math.ceil(IDLE_TIMEOUT / step)
    while True:
        await asyncio.sleep(step)
        now = time.monotonic()
        pool.sweeps = count = pool.sweeps + 1
        marks.append((count, now))
        while len(marks) > 1 and marks[1][1] + timeout <= now:  # sweep c + 1 is timeout old
            overdue = marks.popleft()[0]
        pool.expire(overdue)
        for conn in [c for c in pool.live if c.since <= overdue and (c.state is HEAD
                                                                    or c.state is BODY)]:
            conn.fail(TimeoutError(f"no complete response within {timeout:g}s"))
        idle = pool.idle
        while idle and idle[0].idle_since <= count - idle_sweeps:
            expired = idle.popleft()  # out of the pool first: never handed out while closing
            expired.state = RETIRED
            if expired.transport is not None:
                expired.transport.close()
