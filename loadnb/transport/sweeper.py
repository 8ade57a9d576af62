"""The fast transport's timeouts: one sweeper task per run instead of a timer per request.

Every ``step`` (at most 50 ms, a tenth of the timeout) it fails the requests past their deadline
(those on the wire, and the open model's arrivals still waiting for a connection) and closes the
connections idle for :data:`IDLE_TIMEOUT`. (A wait for a pooled connection has its
own timer: :class:`~loadnb.transport.pool.FifoPool`.)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable

from .conn import BODY, HEAD, RETIRED, Conn

__all__ = ["IDLE_TIMEOUT", "sweep"]

#: Seconds an unused pooled connection stays open (aiohttp's keepalive_timeout): users retired
#: live do not hold their connections, and the server's resources, for the rest of the run.
IDLE_TIMEOUT = 15.0


async def sweep(live: Iterable[Conn], idle: deque[Conn], timeout: float,
                expire: Callable[[float], None]) -> None:
    """Run until cancelled: fail each request out on a connection of ``live`` past its deadline
    (:class:`TimeoutError`) and, by ``expire(now)``, the open model's arrivals that waited for a
    connection past theirs; close the connections of ``idle`` (the pool's, the one idle longest
    on the left) idle for :data:`IDLE_TIMEOUT`."""
    step = min(0.05, timeout / 10)
    while True:
        await asyncio.sleep(step)
        now = time.monotonic()
        expire(now)
        for conn in [c for c in live if c.deadline <= now and (c.state is HEAD
                                                              or c.state is BODY)]:
            conn.fail(TimeoutError(f"no complete response within {timeout:g}s"))
        expired_since = now - IDLE_TIMEOUT
        while idle and idle[0].idle_since <= expired_since:
            expired = idle.popleft()  # out of the pool first: never handed out while closing
            expired.state = RETIRED
            if expired.transport is not None:
                expired.transport.close()
