"""The engine with a mock transport: failures, stopping, the grace period and live changes."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from loadnb.transport.base import Request
from tests.conftest import assert_accounting, until
from tests.doubles import MockTransport, Reply
from tests.engine.engine_helpers import URL, hang


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
