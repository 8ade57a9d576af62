"""The engine with a mock transport: no socket, no server, short and bounded runs.

Where counts depend on time, the engine runs on a :class:`FakeClock` moved by hand, so the expected
counts follow from the plan (rate x time), not from how fast the machine is.
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from loadnb.transport.base import Request, Transport
from tests.conftest import assert_accounting, until
from tests.doubles import FakeClock, MockTransport, Reply
from tests.engine.engine_helpers import URL, arrivals, engine_of, running


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
