"""The open model with no task per arrival on the fast transport, against real servers on
127.0.0.1 (the fault server, nginx and its access log): every request the server saw is counted
once."""

from __future__ import annotations

import asyncio

import pytest

from loadnb import Run, make_spec
from tests.conftest import assert_accounting, until
from tests.faults import Fault, FaultServer, always, every
from tests.nginx import Nginx, find_nginx
from tests.transport.fault_helpers import check_all, exact, load, no_leaks


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
    # cancelled: those held, those on their way, those waiting for a connection being opened
    # (never sent: the server saw fewer than were started, never more)
    assert s["cancelled_requests"] >= s["completed_requests"] - 2  # every other one was held
    assert s["completed_requests"] < received <= s["total_requests"]
    # Every answer the client read the server wrote; the server may have written a few more
    # that were still on their way when the stop cancelled them: those are among the cancelled,
    # beside the held ones (received, never answered).
    held = received - sum(server.completed.values())
    in_transit = server.completed[200] - s["completed_requests"]
    assert 0 <= in_transit <= s["cancelled_requests"] - held, (in_transit, held, s)


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


async def test_the_open_model_opens_its_connections_before_its_clock_starts(
        demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``connections=8`` the eight are open when the run's clock starts (its start-up), so
    the first arrivals are not late for a connect; every request rides on one of them."""
    from loadnb.runner.monitor import Monitor

    seen: list[int] = []
    begin = Monitor.begin

    def spy(self: Monitor, behind: float = 0.0) -> None:
        seen.append(len(run._backend.parts.transport.live))  # type: ignore[union-attr]
        begin(self, behind)

    monkeypatch.setattr(Monitor, "begin", spy)
    run = Run(make_spec(demo_url, rate=100, duration=0.5, transport="fast", connections=8,
                        history="off"))
    s = assert_accounting(await run.run())
    assert seen == [8], seen
    assert s["connections"]["opened"] == 8 and s["failed_requests"] == 0

