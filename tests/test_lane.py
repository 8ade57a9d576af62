"""The open model with no task per arrival (the fast transport's lane).

Three levels: the engine on a mock lane and a fake clock (counts follow from the plan, not from
the machine); the fast transport's :class:`~loadnb.transport.lane.Lane` on a fake pool of real
connections fed by hand (no socket); and the whole run against real servers on 127.0.0.1 (the
fault server, nginx and its access log), where every request the server saw is counted once.
"""

from __future__ import annotations

import asyncio
import gc
import math
from array import array
from collections import deque
from typing import Any

import numpy as np
import pytest

from loadnb import Run, make_spec
from loadnb.engine import Engine
from loadnb.metrics import IntervalStats, Recorder
from loadnb.source import LocalSource
from loadnb.timer import BATCH, Pacer
from loadnb.transport.conn import HEAD, IDLE, Conn
from loadnb.transport.lane import OPENING, Lane

from .conftest import assert_accounting, until
from .doubles import FakeClock, MockLane, MockLaneTransport
from .faults import Fault, FaultServer, always, every
from .nginx import Nginx, find_nginx
from .test_faults import check_all, exact, load, no_leaks

URL = "http://127.0.0.1:9/"  # never contacted by the mock
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


def arrivals(rate: float, t: float) -> int:
    """Arrivals due by ``t`` at a constant ``rate``: the first at 0, then one every 1/rate s."""
    return math.floor(rate * t) + 1


async def started_engine(spec: Any, clock: FakeClock) -> tuple[Engine, Recorder, MockLane,
                                                                asyncio.Task[None]]:
    transport = MockLaneTransport()
    recorder = Recorder()
    engine = Engine(spec, transport, recorder, clock)
    task = asyncio.create_task(engine.run())
    await until(lambda: transport.the_lane is not None)
    assert transport.the_lane is not None
    return engine, recorder, transport.the_lane, task


async def stopped(engine: Engine, recorder: Recorder, task: asyncio.Task[None]) -> IntervalStats:
    """Stop the engine, wait for its end: the run's totals, what never ended settled."""
    engine.stop()
    await asyncio.wait_for(task, 5)
    return recorder.swap(settle=True)["GET /"]


# -- the pacer ----------------------------------------------------------------------------------
def test_the_pacer_wakes_for_the_next_arrival_and_late_wake_ups_catch_up() -> None:
    pacer = Pacer(lambda t: 2000.0, 10.0, start=100.0)
    assert pacer.due(1e-9) == [100.0]  # arrival 0, as a clock reading
    assert pacer.wake(1e-9) == pytest.approx(0.0005)
    # woken late, at 0.7 ms: the next wake-up is still arrival 2's time, not 0.7 ms + BATCH
    assert pacer.due(0.0007) == [pytest.approx(100.0005)]
    assert pacer.wake(0.0007) == pytest.approx(0.001)
    # at 40,000/s the arrivals due within BATCH of each other share one wake-up
    fast = Pacer(lambda t: 40_000.0, 10.0)
    assert fast.due(1e-9) == [0.0]
    first = fast.wake(1e-9)
    assert first == pytest.approx(25e-6) and len(fast.due(first + 1e-9)) == 1
    second = fast.wake(first + 1e-9)
    assert second == pytest.approx(first + BATCH)
    assert len(fast.due(second + 1e-9)) == round(40_000 * BATCH)
    # the end: no arrival due at the end of the duration itself, rounding or not
    short = Pacer(lambda t: 100.0, 0.5)
    assert len(short.due(0.5)) == 50 and short.ended


# -- the engine's side: a mock lane, a fake clock ------------------------------------------------
async def test_arrivals_go_to_the_lane_on_the_clock_with_no_task_each() -> None:
    clock = FakeClock()
    tasks_before = len(asyncio.all_tasks())
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=200, requests=120), clock)
    clock.set(0.2525)  # 51.5 due: arrivals 0..50
    await until(lambda: engine.started >= arrivals(200, 0.2525))
    assert engine.started == len(lane.sent) == lane.in_flight == 51
    assert len(asyncio.all_tasks()) == tasks_before + 1  # the engine's run: nothing per arrival
    assert engine.active_users == 51
    lane.answer()  # all at 0.2525: response time from when each was due, service from its send
    stats = recorder.swap()["GET /"]
    assert (stats.started, stats.completed) == (51, 51)
    assert stats.latency.max_s == pytest.approx(0.2525)  # arrival 0, due at 0
    assert stats.latency.min_s == pytest.approx(0.2525 - 50 / 200)
    assert stats.service.max_s <= 0.2525 and stats.service.min_s == 0.0
    lags = [sent - intended for intended, sent in lane.sent]
    assert engine.take_send_lag() == pytest.approx(
        1e3 * float(np.percentile(lags, 99, method="inverted_cdf")))
    assert math.isnan(engine.take_send_lag())  # taken: nothing new since
    clock.set(5.0)  # 1001 due, but the run ends at its 120th request
    await until(lambda: engine.started == 120 and lane.in_flight == 69)
    lane.answer()
    await asyncio.wait_for(task, 5)
    assert (engine.started, engine.dropped, len(lane.sent)) == (120, 0, 120)
    total = recorder.swap(settle=True)["GET /"]
    assert (total.started, total.completed, total.cancelled) == (69, 69, 0)


async def test_arrivals_beyond_max_in_flight_are_dropped_not_sent() -> None:
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=100, requests=50, max_in_flight=5), clock)
    clock.set(0.205)  # 21 due: 5 fit under the cap, 16 are dropped
    await until(lambda: engine.started + engine.dropped >= 21)
    assert (engine.started, engine.dropped, lane.in_flight, len(lane.sent)) == (5, 16, 5, 5)
    lane.answer(3)
    lane.fail(ConnectionResetError(104, "reset"))  # ended either way: room for 4 more
    clock.set(0.255)  # 5 more due: 4 start, 1 dropped
    await until(lambda: engine.started + engine.dropped >= 26)
    assert (engine.started, engine.dropped) == (9, 17)
    stats = await stopped(engine, recorder, task)
    assert (stats.started, stats.completed, stats.failed, stats.cancelled) == (9, 3, 1, 5)
    assert stats.errors == {"connection reset": 1}


async def test_stop_closes_the_lane_and_what_was_in_flight_is_cancelled() -> None:
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=100, duration=10), clock)
    clock.set(0.105)  # 11 due
    await until(lambda: engine.started >= 11)
    lane.answer(4)
    lane.fail(TimeoutError("no complete response within 10s"), n=2)
    stats = await stopped(engine, recorder, task)
    assert lane.closed and engine.started == 11
    assert (stats.started, stats.completed, stats.failed, stats.cancelled) == (11, 4, 2, 5)
    assert stats.errors == {"timeout": 2}


async def test_every_arrival_due_before_the_end_is_sent_and_the_lane_gets_the_grace() -> None:
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=100, duration=0.5, graceful_stop=0.3, timeout=5), clock)
    clock.set(0.5)  # due before the end: arrivals 0..49 (the 51st is due at the end itself)
    await until(lambda: engine.phase == "ending")
    assert engine.started == len(lane.sent) == 50 == 100 * 0.5
    lane.answer(30)  # within the grace: counted
    await asyncio.wait_for(task, 5)  # the grace (0.3 s) ends with 20 still out
    assert lane.closed
    stats = recorder.swap(settle=True)["GET /"]
    assert (stats.started, stats.completed, stats.cancelled) == (50, 30, 20)


async def test_the_objects_before_the_run_are_frozen_for_the_collector_while_it_runs() -> None:
    assert gc.get_freeze_count() == 0
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(make_spec(URL, rate=10, duration=10),
                                                        clock)
    assert gc.get_freeze_count() > 1000  # (a full collection scans only what the run makes)
    await stopped(engine, recorder, task)
    assert gc.get_freeze_count() == 0


async def test_the_send_lag_reaches_the_status() -> None:
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=1000, duration=10), clock)
    source = LocalSource(engine, recorder, engine.transport)
    clock.set(0.0495)  # 50 due (0..49); they leave at the wake-up that sees 49.5 ms
    await until(lambda: engine.started >= 50)
    status = source.collect(final=False).status
    lags = sorted(sent - intended for intended, sent in lane.sent)
    assert status.send_lag_p99_ms == pytest.approx(1e3 * lags[-1], rel=0.05)
    assert 0 < status.send_lag_p99_ms <= 49.5
    assert math.isnan(source.collect(final=False).status.send_lag_p99_ms)  # none since
    engine.stop()
    await asyncio.wait_for(task, 5)


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
    arrivals: Any = type("A", (), {"clock": clock, "lags": told.lags, "done": told.done_,
                                   "failed": told.failed_, "evidence": lambda *_: None})()
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


# -- against real servers ------------------------------------------------------------------------
async def test_stop_in_the_middle_counts_every_request_the_server_saw_once() -> None:
    async with no_leaks():
        with FaultServer(every(2, Fault(Fault.HOLD))) as server:
            run = Run(make_spec(server.url, rate=200, duration=5, transport="fast",
                                interval=0.1, timeout=5))
            run.start()
            await until(lambda: run.result.overall.completed > 20, what="20 answered")
            run.stop()
            result = await run.wait()
            received = await server.settle()
    s = assert_accounting(result)
    assert result.state == "stopped" and s["failed_requests"] == 0
    assert s["completed_requests"] == server.completed[200]
    # cancelled: those held, those on their way, those waiting for a connection being opened
    # (never sent: the server saw fewer than were started, never more)
    assert s["cancelled_requests"] >= s["completed_requests"] - 2  # every other one was held
    assert s["completed_requests"] < received <= s["total_requests"]


async def test_held_requests_time_out_on_the_wire_in_the_open_model() -> None:
    async with no_leaks():
        with FaultServer(always(Fault(Fault.HOLD))) as server:
            out = await load(server.url, server, transport="fast", rate=20, duration=0.6,
                             timeout=0.3, graceful_stop=1.0)
    check_all(out, {"timeout": out.s["failed_requests"]})
    exact(out)
    # each times out 0.3 s after its send; the last (sent at 0.55 s) may be cut by the grace
    assert out.s["failed_requests"] + out.s["cancelled_requests"] == out.received == 12
    assert out.s["failed_requests"] >= 11 and out.s["latency_ms"]["p50"] is None


async def test_arrivals_waiting_for_a_connection_time_out() -> None:
    """One connection, a server that never answers, an arrival every 0.02 s, a 0.3 s timeout:
    the arrivals wait for the connection, first come first served, and the wait counts toward
    their timeout: each is sent with what is left of it (a new connection after each abort), or
    fails as a timeout before it is sent."""
    async with no_leaks():
        with FaultServer(always(Fault(Fault.HOLD))) as server:
            out = await load(server.url, server, transport="fast", rate=50, duration=0.8,
                             timeout=0.3, graceful_stop=1.0, connections=1)
    check_all(out, {"timeout": out.s["failed_requests"]})
    assert out.s["total_requests"] == 40 and out.s["completed_requests"] == 0
    assert out.s["failed_requests"] >= 40 - 3 and out.s["cancelled_requests"] <= 3
    assert server.connections == out.received <= 40  # one request per connection, one at a time
    assert out.wall < 0.8 + 0.3 + 0.5  # nobody waited longer than the timeout
    assert out.result.df.waiting_for_connection.max() > 5


async def test_resets_on_kept_alive_connections_in_the_open_model() -> None:
    async with no_leaks():
        with FaultServer(every(3, Fault(Fault.RESET))) as server:
            out = await load(server.url, server, transport="fast", rate=150, duration=0.8,
                             timeout=0.5, graceful_stop=0.5)
    check_all(out, {"connection reset": server.faults["reset"]})
    exact(out)
    assert out.s["completed_requests"] == server.completed[200] > 50
    assert out.s["total_requests"] == out.received == 120  # rate x duration, every one sent


@pytest.mark.slow
async def test_every_arrival_asked_at_2000_per_second_reaches_nginx() -> None:
    """2,000 arrivals a second for 2 s on the fast transport: nginx's access log holds exactly
    the 4,000 asked for, each counted once; nothing dropped; a task per connection opened at
    most, never per arrival."""
    if find_nginx() is None:
        pytest.skip("nginx is not installed (apt-get install nginx): no real-server check")
    tasks: list[int] = []
    with Nginx() as nginx:
        run = Run(make_spec(nginx.url, rate=2000, duration=2, transport="fast", interval=0.25))
        run.subscribe(lambda snap: tasks.append(len(asyncio.all_tasks())))
        result = await run.run()
        logged = nginx.requests(nginx.port, settle=1.0, timeout=10)  # (a busy nginx is slow)
    s = assert_accounting(result, server_count=len(logged))
    assert len(logged) == s["completed_requests"] == 4000 and s["dropped_arrivals"] == 0
    connections = len({r.connection for r in logged})  # (a stalled machine opens more)
    assert max(tasks) <= connections + 10 < 4000, (tasks, connections)
    assert s["latency_basis"] == "response time from the intended start"

