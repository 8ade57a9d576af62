"""The open model on the fast transport: arrivals written straight into idle connections.

A :class:`Lane` makes no task, coroutine or future per arrival. :meth:`Lane.send` writes an
arrival into an idle connection of the pool at once; when none is idle the arrival waits in the
lane's queue (first come, first served) and, while the pool has room, a connection is opened for
it (one task per connection opened). The callback that completes a response reports it to the
engine's :class:`~loadnb.transport.base.Arrivals` and writes the next waiting arrival on the same
connection, or gives the connection back to the pool, and sends the arrivals that have come due
meanwhile (``due_at``, ``pace``). The wait counts toward the arrival's
timeout: the sweeper fails the waiting arrivals past it (:meth:`Lane.expire`), as it fails the
requests on the wire. A lane is its pool's only user.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat
from typing import Protocol

from .base import Arrivals
from .conn import BODY, CLOSED, HEAD, IDLE, Conn, head_evidence

__all__ = ["DRAIN_STEP", "OPENING", "WARM_MAX", "WARM_SPAN", "WARM_TIMEOUT", "Lane", "Pool"]

#: How often the end of a run looks whether the lane's arrivals have all ended (seconds).
DRAIN_STEP = 0.005
#: Connections opened at once, at most: at a high rate, the arrivals of the first milliseconds
#: are served by the first connections as they open and free, not each by a connection of its
#: own (a stampede of hundreds that takes longer to open than the few it needs).
OPENING = 16
#: Connections opened before the load starts (:meth:`Lane.warm`): as many as the arrivals of the
#: first :data:`WARM_SPAN` seconds at the starting rate, at least :data:`OPENING`, within what the
#: pool may hold and this many.
WARM_MAX = 256
WARM_SPAN = 0.01
#: Longest a connection opened before the load may take (seconds): a target that does not
#: answer delays the start by this at most, and its arrivals then meet the failure.
WARM_TIMEOUT = 1.0


class Pool(Protocol):
    """What a lane uses of the fast transport."""

    idle: deque[Conn]  # kept-alive connections ready for reuse (the last given back on the right)
    held: int  # slots held (connections open or opening)
    limit: float  # the most slots
    closing: bool
    waiting: int  # arrivals waiting for a connection that is not being opened for them
    live: set[Conn]  # every connection made and not yet lost
    sweeps: int  # the sweeper's count (the coarse clock of timeouts: sweeper.py)
    timeout: float

    async def open(self, deadline: float) -> Conn:
        """A new connection in a slot the caller holds (freed if opening fails); ``deadline``
        on ``time.monotonic``."""
        ...

    def release(self, item: Conn) -> None:
        """Back to the pool: idle if it can carry another request, else closed."""


class Lane:
    """The open model of one run on the fast transport (see the module's docstring).

    ``in_flight`` counts the arrivals sent and not yet ended plus those waiting for a
    connection. Connections carrying an arrival have ``lane`` set and the lane's ``busy`` future
    as their ``waiter``; :meth:`close` cancels it, so nothing they receive afterwards is reported.
    """

    __slots__ = ("pool", "arrivals", "clock", "lags", "tally", "queue", "in_flight", "opening",
                 "busy", "opens", "due_at", "pace")

    def __init__(self, pool: Pool, arrivals: Arrivals) -> None:
        self.pool, self.arrivals = pool, arrivals
        self.clock, self.lags, self.tally = arrivals.clock, arrivals.lags, arrivals.tally
        #: arrivals waiting for a connection: (intended, the sweep count when they came)
        self.queue: deque[tuple[float, int]] = deque()
        self.in_flight = 0
        self.opening = 0  # connections being opened for the waiting arrivals
        self.busy: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.opens: set[asyncio.Task[None]] = set()
        #: the engine's pacer: called from a response once the clock reaches ``due_at`` (when
        #: the next arrivals are due), as well as from its own wake-up
        self.due_at = math.inf
        self.pace: Callable[[], None] | None = None

    # -- the engine's side ---------------------------------------------------------------------
    def send(self, intendeds: list[float]) -> None:
        """Send arrivals due at ``intendeds`` (in order; admitted and counted by the caller):
        each on an idle connection now, the rest when connections free or open."""
        self.in_flight += len(intendeds)
        pool, clock, lags, busy = self.pool, self.clock, self.lags, self.busy
        idle, since, sent = pool.idle, pool.sweeps, 0
        for intended in intendeds:
            while idle:
                conn = idle.pop()
                transport = conn.transport
                if conn.state is IDLE and transport is not None and not transport.is_closing():
                    break
                # else it is closing: its loss frees its slot (see pump)
            else:
                self.queue.extend(zip(intendeds[sent:], repeat(since)))
                self.pump()
                return
            sent += 1
            now = clock()  # (the connection came from this lane: conn.lane is set)
            conn.waiter, conn.intended, conn.sent = busy, intended, now
            lags.append(now - intended)
            conn.since, conn.state, conn.fresh = since, HEAD, True  # (conn.write(), inline)
            try:
                conn.send(conn.payload)
            except Exception as exc:  # noqa: BLE001 - e.g. a transport closed under us
                conn.fail(exc)

    async def warm(self, rate: float) -> None:
        """Open the connections the first arrivals will need before the load starts (the
        run's clock, so its start-up counts apart): one for each arrival of the first
        :data:`WARM_SPAN` s at ``rate`` (arrivals a second), at least :data:`OPENING`, at most
        what the pool may hold and :data:`WARM_MAX`; :data:`OPENING` at a time, each given
        :data:`WARM_TIMEOUT`. A connection that fails to open is no failure yet: the arrivals
        open their own and meet it."""
        pool = self.pool
        want = int(min(max(OPENING, math.ceil(rate * WARM_SPAN)), WARM_MAX, pool.limit))
        while want > 0 and pool.held < pool.limit and not pool.closing:
            wave = int(min(want, OPENING, pool.limit - pool.held))
            want -= wave
            pool.held += wave
            opened = await asyncio.gather(*(self._warm_one() for _ in range(wave)))
            if not all(opened):
                return

    async def _warm_one(self) -> bool:
        """One connection opened before the load, in a slot held: idle in the pool if it opens."""
        try:
            conn = await self.pool.open(time.monotonic() + min(self.pool.timeout, WARM_TIMEOUT))
        except Exception:  # noqa: BLE001 - the arrivals meet it (the slot is freed)
            return False
        conn.lane = self
        if conn.state is not CLOSED:
            self.pool.release(conn)
        return True

    async def drain(self, timeout: float) -> None:
        """Return once nothing is in flight, or after ``timeout`` seconds (polled every
        :data:`DRAIN_STEP`: nothing on the hot path waits for it)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while self.in_flight and not self.busy.done() and loop.time() < until:  # noqa: ASYNC110
            await asyncio.sleep(min(DRAIN_STEP, max(0.0, until - loop.time())))

    def close(self) -> None:
        """Abort everything in flight, unreported (settled as cancelled by the recorder)."""
        if self.busy.done():
            return
        self.busy.cancel()
        for task in self.opens:
            task.cancel()
        self.queue.clear()
        self.in_flight = self.pool.waiting = 0
        self.due_at, self.pace = math.inf, None
        for conn in list(self.pool.live):
            if conn.lane is self and (conn.state is HEAD or conn.state is BODY):
                conn.fail(ConnectionAbortedError("request cancelled"))

    async def aclose(self) -> None:
        """:meth:`close`, then wait for the connections being opened to give up."""
        self.close()
        if self.opens:
            await asyncio.gather(*self.opens, return_exceptions=True)

    # -- the connections' side (conn.Lane) ------------------------------------------------------
    def done(self, conn: Conn, status: int, nbytes: int) -> None:
        now = self.clock()  # one clock read ends this response and sends the next arrival
        self.in_flight -= 1
        tally = self.tally
        if status == tally.ok_code:  # the common response, counted here (Arrivals.tally)
            tally.ok_n += 1
            tally.latency.append(now - conn.intended)
            tally.service.append(now - conn.sent)
            tally.bytes += nbytes
        else:
            self.arrivals.done(conn.intended, conn.sent, now, status, nbytes)
            if status >= 400:  # a failure's evidence, from the head chunks kept
                self.arrivals.evidence(status, head_evidence(conn.head))
        pool = self.pool
        if conn.state is IDLE and not pool.closing:
            queue = self.queue
            if queue:  # the first waiting arrival, on this connection (write(), inline)
                intended, since = queue.popleft()
                waiting = len(queue) - self.opening
                pool.waiting = waiting if waiting > 0 else 0
                conn.waiter, conn.intended, conn.sent = self.busy, intended, now
                self.lags.append(now - intended)
                conn.since, conn.state, conn.fresh = since, HEAD, True  # (conn.write(), inline)
                try:
                    conn.send(conn.payload)
                except Exception as exc:  # noqa: BLE001 - e.g. a transport closed under us
                    conn.fail(exc)
                return
            conn.waiter = None  # (pool.release's work, as no one else waits for the pool)
            conn.idle_since = pool.sweeps
            pool.idle.append(conn)
        else:
            conn.waiter = None
            pool.release(conn)
        if now >= self.due_at and self.pace is not None:
            # Arrivals are due: send them from here. While the loop works through a burst of
            # responses, the pacer's own wake-up waits for it to end; they need not.
            self.pace()

    def failed(self, conn: Conn, exc: BaseException) -> None:
        """``conn`` failed (it is being closed: its loss frees its slot, see :meth:`pump`)."""
        self.end(conn.intended, exc)

    # -- waiting arrivals -----------------------------------------------------------------------
    def write(self, conn: Conn, now: float) -> None:
        """Write the first waiting arrival on ``conn`` (``now``: the clock)."""
        intended, since = self.queue.popleft()
        self.pool.waiting = max(0, len(self.queue) - self.opening)
        conn.waiter, conn.intended, conn.sent = self.busy, intended, now
        self.lags.append(now - intended)
        conn.write(since)

    def end(self, intended: float, exc: BaseException) -> None:
        """An arrival failed: report it."""
        self.in_flight -= 1
        self.arrivals.failed(intended, exc)

    def pump(self) -> None:
        """Open connections for the waiting arrivals (at most :data:`OPENING` at once) while
        the pool has room (told also when a connection is lost, which frees its slot)."""
        pool, queue = self.pool, self.queue
        if self.busy.done():
            return
        while queue and self.opening < min(len(queue), OPENING) and pool.held < pool.limit:
            pool.held += 1
            self.opening += 1
            task = asyncio.get_running_loop().create_task(self.opened())
            self.opens.add(task)
            task.add_done_callback(self.opens.discard)
        pool.waiting = max(0, len(queue) - self.opening)

    async def opened(self) -> None:
        """Open a connection (in a slot held) for the first waiting arrival; if opening fails,
        that arrival fails with the error."""
        try:
            conn = await self.pool.open(time.monotonic() + self.pool.timeout)
        except Exception as exc:  # noqa: BLE001 - the waiting arrival's failure (refused, …)
            self.opening -= 1
            if self.queue:
                self.end(self.queue.popleft()[0], exc)
            self.pump()
            return
        self.opening -= 1
        conn.lane = self  # (for good: every connection of the pool is the lane's)
        if conn.state is CLOSED:  # lost before it was handed over (its slot is freed)
            self.pump()
        elif self.queue and not self.pool.closing:
            self.write(conn, self.clock())
        else:
            self.pool.release(conn)

    def expire(self, overdue: int) -> None:
        """Fail the arrivals waiting since sweep ``overdue`` or before (sweeper.py)."""
        queue = self.queue
        while queue and queue[0][1] <= overdue:
            self.end(queue.popleft()[0], TimeoutError("no free connection before the timeout"))
        self.pool.waiting = max(0, len(queue) - self.opening)
