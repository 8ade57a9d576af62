"""The engine with a mock transport: no socket, no server, short and bounded runs.

Where counts depend on time, the engine runs on a :class:`FakeClock` moved by hand, so the expected
counts follow from the plan (rate x time), not from how fast the machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import statistics
import time
from collections.abc import AsyncIterator

import pytest

from loadnb.engine.generator import Engine
from loadnb.engine.work import SingleRequest
from loadnb.metrics.stats import Recorder
from loadnb.runner.run import Run
from loadnb.spec.config import LoadSpec, make_spec
from loadnb.transport.base import Request, Transport
from tests.conftest import assert_accounting, until
from tests.doubles import FakeClock, MockTransport, Reply

URL = "http://127.0.0.1:9/"  # never contacted: the mock transport answers


def engine_of(spec: LoadSpec, transport: MockTransport,
              clock: FakeClock | None = None) -> tuple[Engine, Recorder]:
    recorder = Recorder()
    return Engine(spec, transport, recorder, clock or time.perf_counter), recorder


@contextlib.asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[asyncio.Task[None]]:
    """Run the engine as a task for the block (entered once it has started: its ``t0`` read,
    so a fake clock may move); stop it at the end if it is still going."""
    task = asyncio.create_task(engine.run())
    try:
        await until(lambda: engine.phase != "idle")
        yield task
    finally:
        if not task.done():
            engine.stop()
        await asyncio.wait_for(task, 5)


def arrivals(rate: float, t: float) -> int:
    """Arrivals due by ``t`` at a constant ``rate``: the first at 0, then one every 1/rate s."""
    return math.floor(rate * t) + 1


def hang(seconds: float = 30.0) -> MockTransport:
    """A transport whose answers take ``seconds`` (longer than any test: they get cancelled)."""
    return MockTransport(delay=seconds)


def test_the_mock_transport_is_a_transport() -> None:
    transport: Transport = MockTransport()  # mypy checks the protocol; this checks the names
    assert transport.name == "mock" and transport.waiting == 0
    assert transport.classify(ConnectionRefusedError()) == "connection refused"


# -- closed model ------------------------------------------------------------------------------
async def test_closed_model_keeps_n_users_busy() -> None:
    transport = MockTransport(delay=0.002)
    engine, recorder = engine_of(make_spec(URL, users=5, duration=5), transport)
    async with running(engine):
        await until(lambda: transport.sent >= 200)
        assert engine.active_users == 5 and transport.peak_in_flight == 5
        assert engine.phase == "running" and engine.started == transport.sent
    stats = recorder.swap(settle=True)["GET /"]
    assert engine.phase == "done" and engine.active_users == 0
    assert stats.started == engine.started == transport.sent
    assert stats.completed == transport.answered and stats.failed == 0
    assert stats.cancelled == transport.cancelled <= 5


async def test_requests_bound_starts_exactly_n() -> None:
    transport = MockTransport(delay=0.001)
    run = Run(make_spec(URL, users=4, requests=37, interval=0.05),
              transport=lambda options: transport)
    result = await run.run()
    s = assert_accounting(result, server_count=transport.sent)
    assert transport.sent == 37 == s["completed_requests"] and s["cancelled_requests"] == 0
    assert result.totals["GET /"].started == 37 and transport.peak_in_flight <= 4
    assert result.transport == "mock" and transport.closed


async def test_the_ramp_and_a_live_target_set_the_users() -> None:
    clock = FakeClock()
    transport = MockTransport(delay=0.002)
    engine, _ = engine_of(make_spec(URL, users=10, ramp_up=1, duration=10), transport, clock)
    async with running(engine):
        assert engine.target_users(0.0) == 0 and engine.active_users == 0
        clock.set(0.5)
        await until(lambda: engine.active_users == 5)
        clock.set(1.0)
        await until(lambda: engine.active_users == 10)
        await until(lambda: transport.in_flight == 10)
        engine.set_target(3)
        assert engine.take_events() == [(1.0, "set to 3 users")] and engine.take_events() == []
        assert engine.target_users(5.0) == 3  # the override holds over the shape
        await until(lambda: engine.active_users == 3)
        # Retired users finish the request they were in and send no more: once 60 more requests
        # have gone (the retirees' last ones, sent before, have ended), at most 3 are in flight.
        seen = transport.sent
        await until(lambda: transport.sent >= seen + 60)
        transport.peak_in_flight = 0
        seen = transport.sent
        await until(lambda: transport.sent >= seen + 60)
        assert transport.peak_in_flight <= 3
    percent, left = engine.progress(engine.elapsed())
    assert percent == pytest.approx(10.0) and left == 0.0  # stopped at 1 s of 10 s


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf])
def test_a_bad_live_target_is_refused(value: float) -> None:
    engine, _ = engine_of(make_spec(URL, users=2, duration=1), MockTransport())
    with pytest.raises(ValueError, match="must be a number >= 0"):
        engine.set_target(value)
    assert engine.events == []


async def test_users_thinking_at_the_end_do_not_hold_the_run() -> None:
    transport = MockTransport()
    run = Run(make_spec(URL, users=3, duration=0.3, think_time=5, graceful_stop=5,
                        interval=0.1), transport=lambda options: transport)
    t0 = time.perf_counter()
    result = await run.run()
    assert time.perf_counter() - t0 < 4  # neither the 5 s think nor the 5 s grace waited out
    s = assert_accounting(result, server_count=3)
    assert s["completed_requests"] == 3 == transport.answered and s["cancelled_requests"] == 0


# -- open model --------------------------------------------------------------------------------
async def test_open_model_arrivals_follow_the_rate_on_the_clock() -> None:
    clock = FakeClock()
    transport = MockTransport()
    engine, recorder = engine_of(make_spec(URL, rate=200, requests=120), transport, clock)
    async with running(engine) as task:
        for t in (0.0525, 0.2525, 0.4975):  # rate x t is never a whole number: no rounding
            clock.set(t)
            want = arrivals(200, t)
            await until(lambda: engine.started >= want)  # noqa: B023 - awaited in the loop
            assert engine.started == want
        clock.set(5.0)  # 1001 arrivals due, but the run ends at its 120th request
        await asyncio.wait_for(task, 5)
    assert not engine.stopped
    assert engine.started == transport.sent == 120 and engine.dropped == 0
    stats = recorder.swap(settle=True)["GET /"]
    assert (stats.started, stats.completed, stats.cancelled) == (120, 120, 0)


async def test_open_model_live_rate_change_applies_from_the_change_on() -> None:
    clock = FakeClock()
    transport = MockTransport()
    engine, _ = engine_of(make_spec(URL, rate=100, requests=1000), transport, clock)
    async with running(engine):
        clock.set(0.4975)  # 49.75 due: arrivals 0..49
        await until(lambda: engine.started >= 50)
        assert engine.started == 50
        engine.set_target(300)
        assert engine.take_events() == [(0.4975, "set to 300 req/s")]
        assert engine.target_rate(0.6) == 300.0 and engine.target_users(0.6) == 0
        clock.set(0.7525)  # 49.75 + 300 x 0.255 = 126.25 due: arrivals 0..126
        await until(lambda: engine.started >= 127)
        assert engine.started == 127
        await until(lambda: transport.answered == 127)
    assert transport.sent == 127


async def test_open_model_drops_arrivals_beyond_max_in_flight() -> None:
    clock = FakeClock()
    gate = asyncio.Event()

    async def held(request: Request) -> Reply:
        await gate.wait()
        return 200, 2

    transport = MockTransport(held)
    engine, recorder = engine_of(make_spec(URL, rate=100, requests=50, max_in_flight=5),
                                 transport, clock)
    async with running(engine):
        clock.set(0.205)  # 21 arrivals due: 5 fit under the cap, 16 are dropped
        await until(lambda: engine.started + engine.dropped >= 21)
        assert (engine.started, engine.dropped, engine.active_users) == (5, 16, 5)
        await until(lambda: transport.in_flight == 5)
        gate.set()
        await until(lambda: transport.answered == 5 and engine.active_users == 0)
        clock.set(0.255)  # 5 more due, and room for 5: all start
        await until(lambda: engine.started + engine.dropped >= 26)
        assert (engine.started, engine.dropped) == (10, 16)
        clock.set(0.335)  # 8 more due at once: 5 start (the others are in flight), 3 dropped
        await until(lambda: engine.started + engine.dropped >= 34)
        assert (engine.started, engine.dropped) == (15, 19)
        await until(lambda: transport.answered == 15)
    stats = recorder.swap(settle=True)["GET /"]
    assert (stats.started, stats.completed, stats.cancelled) == (15, 15, 0)
    assert transport.sent == 15 and transport.peak_in_flight == 5


async def test_open_model_run_delivers_the_rate_times_the_duration() -> None:
    transport = MockTransport()
    run = Run(make_spec(URL, rate=100, duration=0.5, interval=0.1),
              transport=lambda options: transport)
    result = await run.run()
    s = assert_accounting(result, server_count=transport.sent)
    # No arrival is due after the duration: at most 100 x 0.5 + 1; a late pacer wake-up can
    # only lose the arrivals of its own lateness, never half of them.
    assert 25 <= transport.sent <= arrivals(100, 0.5)
    assert s["dropped_arrivals"] == 0
    assert all(snap.target_rate == 100 for snap in result.snapshots)


# -- failures and the end of a run -------------------------------------------------------------
async def test_transport_exceptions_are_classified_and_counted() -> None:
    calls = itertools.count(1)

    def handler(request: Request) -> Reply:
        n = next(calls) % 6
        if n == 1:
            raise ConnectionRefusedError(111, "refused")
        if n == 2:
            raise TimeoutError("slow")
        if n == 3:
            raise ConnectionResetError(104, "reset")
        if n == 4:
            raise KeyError("boom")
        return (503, 7) if n == 5 else (200, 2)

    transport = MockTransport(handler)
    run = Run(make_spec(URL, users=3, requests=60, interval=0.05),
              transport=lambda options: transport)
    result = await run.run()
    s = assert_accounting(result, server_count=60)
    assert s["errors"] == {"connection refused": 10, "timeout": 10, "connection reset": 10,
                           "exception: KeyError": 10, "HTTP 503": 10}
    assert (s["completed_requests"], s["failed_requests"]) == (10, 50)
    assert s["status_codes"] == {"200": 10, "503": 10} and s["bytes_received"] == 90
    assert transport.raised == 40 and transport.statuses == {200: 10, 503: 10}
    samples = result.totals["GET /"].samples
    assert samples["connection refused"] == "ConnectionRefusedError: [Errno 111] refused"
    assert samples["exception: KeyError"] == "KeyError: 'boom'"
    assert samples["HTTP 503"] == "HTTP/1.1 503"  # a response: its status line as evidence


async def test_the_transport_names_its_own_failures() -> None:
    def broken(request: Request) -> Reply:
        raise OSError("no route")

    transport = MockTransport(broken, classify=lambda exc: f"mine: {type(exc).__name__}")
    result = await Run(make_spec(URL, users=2, requests=9, interval=0.05),
                       transport=lambda options: transport).run()
    s = assert_accounting(result, server_count=9)
    assert s["errors"] == {"mine: OSError": 9} and s["success_rate"] == 0.0


async def test_stop_cancels_in_flight_requests_and_counts_them_cancelled() -> None:
    calls = itertools.count(1)

    async def slow_after_ten(request: Request) -> Reply:
        if next(calls) > 10:
            await asyncio.sleep(30)
        return 200, 2

    transport = MockTransport(slow_after_ten)
    run = Run(make_spec(URL, users=4, duration=30, graceful_stop=10, interval=0.05),
              transport=lambda options: transport)
    run.start()
    await until(lambda: transport.sent == 14 and transport.in_flight == 4)
    t0 = time.perf_counter()
    run.stop()
    result = await run.wait()
    assert time.perf_counter() - t0 < 5  # at once: neither the 10 s grace nor the 30 s sleeps
    s = assert_accounting(result, server_count=14)
    assert (s["completed_requests"], s["failed_requests"], s["cancelled_requests"]) == (10, 0, 4)
    assert transport.cancelled == 4 and transport.closed
    assert result.state == "stopped" and run.state == "stopped"  # one vocabulary
    assert result.snapshots[-1].cancelled_requests == 4


async def test_stop_cancels_open_model_arrivals_in_flight() -> None:
    transport = hang()
    run = Run(make_spec(URL, rate=200, duration=2, interval=0.05),
              transport=lambda options: transport)
    run.start()
    await until(lambda: transport.sent >= 5)
    run.stop()
    result = await run.wait()
    s = assert_accounting(result)
    # An arrival counts as started the moment it is due: one cancelled before its task ran
    # never reached the transport.
    assert s["cancelled_requests"] == s["total_requests"] >= transport.sent == transport.cancelled
    assert s["completed_requests"] == 0 and result.state == "stopped"


async def test_requests_still_in_flight_after_the_grace_are_cancelled() -> None:
    transport = hang()
    run = Run(make_spec(URL, users=3, duration=0.2, graceful_stop=0.1, interval=0.05),
              transport=lambda options: transport)
    t0 = time.perf_counter()
    result = await run.run()
    took = time.perf_counter() - t0
    assert 0.25 < took < 5, took  # the grace waited out (0.3 s in all), then cancelled: no hang
    s = assert_accounting(result, server_count=3)
    assert s["cancelled_requests"] == 3 == transport.cancelled and result.state == "done"


async def test_requests_that_end_within_the_grace_are_waited_for() -> None:
    transport = MockTransport(delay=0.15)
    run = Run(make_spec(URL, users=2, duration=0.2, graceful_stop=2, interval=0.05),
              transport=lambda options: transport)
    result = await run.run()
    s = assert_accounting(result, server_count=transport.sent)
    assert s["cancelled_requests"] == 0 and s["completed_requests"] == transport.sent >= 2


async def test_a_live_change_is_recorded_as_an_event() -> None:
    transport = MockTransport(delay=0.002)
    run = Run(make_spec(URL, users=2, duration=1, interval=0.1),
              transport=lambda options: transport)
    run.start()
    await until(lambda: len(run.snapshots) >= 2)
    run.set_users(4)
    await until(lambda: any(s.event for s in run.snapshots))
    await until(lambda: len(run.snapshots) >= 2 + next(
        i for i, s in enumerate(run.snapshots) if s.event))
    run.stop()
    result = await run.wait()
    assert_accounting(result, server_count=transport.sent)
    marked = [i for i, s in enumerate(result.snapshots) if s.event]
    assert len(marked) == 1 and result.snapshots[marked[0]].event == "set to 4 users"
    [(at, text)] = result.record.events
    assert text == "set to 4 users" and 0 < at <= result.snapshots[marked[0]].elapsed_time
    assert all(s.target_users == 2 for s in result.snapshots[:marked[0]])
    assert all(s.target_users == 4 for s in result.snapshots[marked[0]:-1])
    assert result.snapshots[marked[0] + 1].active_users == 4 and transport.peak_in_flight == 4
    with pytest.raises(ValueError, match="set_rate applies to the open model"):
        run.set_rate(10)


# -- the Admission seam ------------------------------------------------------------------------
class Budget:
    """An :class:`~loadnb.engine.work.Admission` that admits ``n`` requests, then none."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.closed = False

    def admit(self, now: float | None = None) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def close(self) -> None:
        self.closed = True


async def test_a_request_refused_by_the_admission_is_neither_sent_nor_counted() -> None:
    transport = MockTransport(lambda request: (404, 3))
    acc = Recorder().stats_for("GET /")
    work = SingleRequest(Budget(2), transport, acc, Request("GET", URL), lambda s: s < 400,
                         time.perf_counter)
    for _ in range(4):
        await work.begin(None, None)
    assert transport.sent == 2 and acc.started == 2
    assert (acc.completed, acc.failed, acc.errors, acc.bytes) == (0, 2, {"HTTP 404": 2}, 6)
    assert [r.url for r in transport.requests] == [URL, URL]


def send_times(handler_delay: float) -> tuple[list[float], MockTransport]:
    """A mock transport that notes the monotonic time of every send."""
    times: list[float] = []

    def stamp(request: Request) -> Reply:
        times.append(time.monotonic())
        return 200, 0

    return times, MockTransport(stamp, delay=handler_delay)


async def test_think_time_range_draws_each_pause_within_it() -> None:
    times, mock = send_times(0.0)
    spec = make_spec(URL, users=1, duration=1.2, think_time=(0.04, 0.12), seed=3)
    await Run(spec, transport=lambda options: mock).run()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 6
    # never shorter than the range; longer only by a busy machine's timer slack (the median
    # decides, not one stretched pause)
    assert min(gaps) >= 0.035 and statistics.median(gaps) <= 0.12 + 0.05, gaps
    assert max(gaps) - min(gaps) > 0.02  # drawn, not constant


async def test_pacing_starts_iterations_on_a_fixed_interval() -> None:
    times, mock = send_times(0.05)  # each iteration takes about 50 ms of the 200 ms slot
    spec = make_spec(URL, users=1, duration=1.1, pacing="200ms")
    result = await Run(spec, transport=lambda options: mock).run()
    starts = [t - 0.05 for t in times]  # the stamp is at the end of the delay
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert 4 <= len(times) <= 6 and result.summary["parameters"]["pacing"] == 0.2
    # every start on the 200 ms grid, never early; not 50 ms of work + 200 ms of pause (the
    # median decides, not one start a busy machine delayed)
    assert min(gaps) >= 0.19 and statistics.median(gaps) <= 0.23, gaps
