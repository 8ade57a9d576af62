"""The fast transport's :class:`~loadnb.transport.lane.Lane` (the open model with no task per
arrival) on a fake pool of real connections, fed by hand (no socket)."""

from __future__ import annotations

import asyncio
import math
from array import array
from collections import deque
from typing import Any

from loadnb.transport.conn import HEAD, IDLE, Conn
from loadnb.transport.lane import OPENING, Lane
from tests.doubles import FakeClock

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


# -- the fast transport's lane: a fake pool of real connections, fed by hand -------------------
class FakeSocket:
    """The asyncio transport under a connection: counts writes, closes when told."""

    def __init__(self) -> None:
        self.writes = 0
        self.closing = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True


class FakePool:
    """What a lane uses of the fast transport (:class:`~loadnb.transport.lane.Pool`), with
    connections that open when the test says so (:meth:`connect`, :meth:`refuse`)."""

    def __init__(self, limit: float) -> None:
        self.idle: deque[Conn] = deque()
        self.held, self.limit, self.closing, self.waiting, self.sweeps = 0, limit, False, 0, 0
        self.timeout = 1.0
        self.live: set[Conn] = set()
        self.pending: deque[asyncio.Future[Conn]] = deque()

    async def open(self, deadline: float) -> Conn:
        fut: asyncio.Future[Conn] = asyncio.get_running_loop().create_future()
        self.pending.append(fut)
        return await fut

    async def connect(self) -> Conn:
        conn = Conn(self, b"GET / HTTP/1.1\r\n\r\n", True)
        conn.connection_made(FakeSocket())  # type: ignore[arg-type]
        conn.state = IDLE
        self.pending.popleft().set_result(conn)
        for _ in range(3):
            await asyncio.sleep(0)
        return conn

    async def refuse(self) -> None:
        self.held -= 1  # (the transport's open frees the slot of a connection that failed)
        self.pending.popleft().set_exception(ConnectionRefusedError(111, "refused"))
        for _ in range(3):
            await asyncio.sleep(0)

    def release(self, item: Conn) -> None:
        self.idle.append(item)

    def made(self, conn: Conn) -> None:
        self.live.add(conn)

    def lost(self, conn: Conn, counted: bool) -> None:
        self.live.discard(conn)

    def forget(self, item: Conn) -> bool:
        return False


class Told:
    """The engine's side of a lane (:class:`~loadnb.transport.base.Arrivals`): what it was told."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.lags: array[float] = array("d")
        self.done: list[tuple[float, float, float, int]] = []  # intended, sent, now, status
        self.failed: list[tuple[float, str]] = []

    def done_(self, intended: float, sent: float, now: float, status: int, nbytes: int) -> None:
        self.done.append((intended, sent, now, status))

    def failed_(self, intended: float, exc: BaseException) -> None:
        self.failed.append((intended, type(exc).__name__))


async def settle() -> None:
    """Let the tasks the lane started run (its connections' openings)."""
    for _ in range(3):
        await asyncio.sleep(0)


def lane_of(limit: float) -> tuple[Lane, FakePool, Told, FakeClock]:
    clock = FakeClock()
    told = Told(clock)
    nobody: Any = type("T", (), {"ok_code": -1})()  # (every response told to done())
    arrivals: Any = type("A", (), {"clock": clock, "lags": told.lags, "done": told.done_,
                                   "failed": told.failed_, "evidence": lambda *_: None,
                                   "tally": nobody})()
    pool = FakePool(limit)
    return Lane(pool, arrivals), pool, told, clock


async def test_waiting_arrivals_take_connections_first_come_first_served() -> None:
    lane, pool, told, clock = lane_of(limit=2)
    lane.send([1.0, 2.0, 3.0])
    await settle()
    assert (lane.in_flight, pool.held, len(pool.pending), pool.waiting) == (3, 2, 2, 1)
    clock.set(3.5)
    a, b = await pool.connect(), await pool.connect()
    assert (a.intended, a.sent, b.intended, pool.waiting) == (1.0, 3.5, 2.0, 1)
    clock.set(4.0)
    a.data_received(OK)  # a's response writes the arrival still waiting, on a
    assert told.done == [(1.0, 3.5, 4.0, 200)] and a.intended == 3.0 and a.state is HEAD
    b.data_received(OK)
    a.data_received(OK)
    assert [d[0] for d in told.done] == [1.0, 2.0, 3.0] and lane.in_flight == 0
    assert list(pool.idle) == [b, a] and a.waiter is None
    lane.send([5.0])  # an idle connection: written at once (the last one given back)
    assert a.intended == 5.0 and a.state is HEAD and lane.in_flight == 1
    assert list(told.lags) == [2.5, 1.5, 1.0, -1.0]  # sent - intended (5.0 came early)
    lane.close()


async def test_a_burst_of_arrivals_opens_a_few_connections_and_shares_them() -> None:
    lane, pool, told, clock = lane_of(limit=math.inf)
    lane.send([float(intended) for intended in range(40)])
    await settle()
    assert len(pool.pending) == pool.held == OPENING < 40 and pool.waiting == 40 - OPENING
    first = await pool.connect()
    assert first.intended == 0.0
    first.data_received(OK)  # it serves the next arrival waiting, as the others open
    assert first.intended == 1.0 and len(pool.pending) == OPENING - 1
    lane.close()


async def test_a_connection_opened_for_nobody_goes_idle_and_answers_to_the_lane() -> None:
    lane, pool, told, clock = lane_of(limit=1)
    lane.send([0.0])
    await settle()
    lane.expire(0)  # it waited past its timeout before the connection opened
    assert told.failed == [(0.0, "TimeoutError")] and lane.in_flight == 0
    conn = await pool.connect()
    assert list(pool.idle) == [conn] and conn.lane is lane
    lane.send([1.0])
    conn.data_received(OK)
    assert told.done == [(1.0, 0.0, 0.0, 200)] and not lane.busy.done()


async def test_waiting_arrivals_past_their_timeout_fail_as_timeouts() -> None:
    lane, pool, told, clock = lane_of(limit=1)
    lane.send([1.0])
    await settle()
    conn = await pool.connect()
    pool.sweeps = 3
    lane.send([2.0])
    pool.sweeps = 4
    lane.send([3.0])
    assert (lane.in_flight, pool.waiting) == (3, 2)
    lane.expire(3)  # waiting since sweep 3 or before
    assert told.failed == [(2.0, "TimeoutError")] and (lane.in_flight, pool.waiting) == (2, 1)
    conn.data_received(OK)
    assert conn.intended == 3.0 and conn.since == 4  # its wait counts toward its timeout


async def test_a_connection_that_fails_to_open_fails_the_oldest_waiting_arrival() -> None:
    lane, pool, told, clock = lane_of(limit=2)
    lane.send([1.0])
    lane.send([2.0])
    await settle()
    await pool.refuse()
    assert told.failed == [(1.0, "ConnectionRefusedError")] and lane.in_flight == 1
    assert len(pool.pending) == 1  # one still opening for the one still waiting
    conn = await pool.connect()
    assert conn.intended == 2.0 and conn.state is HEAD


async def test_close_aborts_what_is_in_flight_and_nothing_is_told_after() -> None:
    lane, pool, told, clock = lane_of(limit=3)
    lane.send([1.0, 2.0, 3.0])
    await settle()
    a, b = await pool.connect(), await pool.connect()
    lane.close()
    assert lane.in_flight == 0 and not lane.queue and lane.busy.cancelled()
    assert isinstance(a.transport, FakeSocket) and a.transport.aborted
    assert isinstance(b.transport, FakeSocket) and b.transport.aborted
    a.data_received(OK)
    await lane.aclose()  # the third connection's opening is given up
    assert told.done == [] and told.failed == [] and pool.pending[0].cancelled()



async def test_warm_opens_what_the_first_arrivals_need_in_waves_within_the_pool() -> None:
    lane, pool, told, clock = lane_of(limit=OPENING + 4)
    warming = asyncio.ensure_future(lane.warm(rate=1e6))  # (its first 10 ms: 10,000 arrivals)
    await settle()
    assert len(pool.pending) == pool.held == OPENING  # a wave at a time
    for _ in range(OPENING):
        await pool.connect()
    await settle()
    assert len(pool.pending) == 4 and pool.held == OPENING + 4  # then the rest
    for _ in range(4):
        await pool.connect()
    await warming
    assert len(pool.idle) == OPENING + 4 and all(c.lane is lane for c in pool.idle)
    assert lane.in_flight == 0 and not told.done and not told.failed
    lane.send([0.0])  # the first arrival finds one open: written at once, no wait, no lag
    assert lane.in_flight == 1 and not pool.pending and list(told.lags) == [0.0]
    lane.close()


async def test_warm_stops_at_a_refusal_and_the_arrivals_meet_it_themselves() -> None:
    lane, pool, told, clock = lane_of(limit=math.inf)
    warming = asyncio.ensure_future(lane.warm(rate=5.0))
    await settle()
    assert len(pool.pending) == OPENING  # a low rate: one wave, however large the pool
    await pool.connect()
    await pool.refuse()
    for _ in range(OPENING - 2):
        await pool.connect()
    await warming  # no error: a failure to open is no failure of the run yet
    assert len(pool.idle) == OPENING - 1 and not pool.pending and not told.failed
    lane.close()
