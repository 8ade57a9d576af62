"""The fast transport's request chains (closed-model users writing their next request from the
callback that completed the last response) at their edges: a pool smaller than the users, bytes
nobody asked for, a cut body after an interim response, a failing driver, idle connections.

Each test counts what the server received and checks loadnb's accounting (``LOADNB_DEBUG=1`` in
conftest also checks every run's own books, including that no request ends twice).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import pandas  # noqa: F401 - imported up front: a first import inside a run would stall the loop
import pytest

from loadnb import Run, make_spec
from loadnb.engine.vuser import VirtualUser
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.stats import Recorder
from loadnb.transport.fast import FastTransport
from loadnb.transport.pool import FifoPool
from tests.conftest import until
from tests.servers import Action, RawHTTPServer
from tests.transport.fast_helpers import CLOSE, RawServer, Seen, Step, fixed, head

TRANSPORTS = pytest.mark.parametrize("transport", ["fast", "aiohttp"])


Grants = list[tuple[int, "asyncio.Task[Any] | None"]]


def record_grants(monkeypatch: pytest.MonkeyPatch) -> Grants:
    """The pool's grants in the order it makes them, as (number of the ask, the asking task: a
    user), recorded by wrapping ``FifoPool.acquire`` (both transports' pool). A caller that
    gives up (cancelled, timed out) asked and was never granted: it is not in the list."""
    asked = itertools.count()
    grants: Grants = []
    acquire = FifoPool.acquire

    async def recorded(pool: FifoPool[Any], deadline: float) -> Any:
        ask, user = next(asked), asyncio.current_task()
        got = await acquire(pool, deadline)
        grants.append((ask, user))
        return got

    monkeypatch.setattr(FifoPool, "acquire", recorded)
    return grants


def assert_first_come_first_served(grants: Grants, users: int) -> None:
    """Every ask granted in the order it was made, so the users take turns: each got at least
    three and about as many as any other (none starves)."""
    order = [ask for ask, _ in grants]
    assert order == sorted(order), f"a later ask was granted before an earlier one: {order}"
    turns = Counter(user for _, user in grants)
    assert len(turns) == users and min(turns.values()) >= 3, sorted(turns.values())
    assert max(turns.values()) - min(turns.values()) <= 2, sorted(turns.values())


@pytest.mark.parametrize("transport", ["fast", "aiohttp", "scenario"])
async def test_users_take_turns_on_a_pool_smaller_than_they_are(
        transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four users, one connection: each request waits for the three others, first come first
    served (a chain hands its connection over when someone is waiting; on aiohttp, whose own
    queue lets the task that released a connection take it again, requests take turns)."""
    async def journey(user: VirtualUser) -> None:
        await user.get("/")

    grants = record_grants(monkeypatch)
    with RawHTTPServer(lambda i: Action(delay=0.005)) as server:
        extra: dict[str, Any] = ({"scenario": journey} if transport == "scenario"
                                 else {"transport": transport})
        result = await Run(make_spec(server.url, users=4, connections=1, duration=1.0,
                                     timeout=5, interval=0.2, **extra)).run()
    s = result.summary
    assert s["failed_requests"] == 0, s["errors"]
    assert server.connections == 1 and s["total_requests"] == server.received
    assert_first_come_first_served(grants, users=4)
    assert s["latency_ms"]["p50"] > 2.5 * 5, s["latency_ms"]  # ~4 x the server's 5 ms


async def test_a_spare_response_in_the_same_read_never_answers_the_next_request() -> None:
    def twice(n: int, seen: Seen) -> list[Step]:
        answer = head(Content_Length=2) + b"OK"
        return [0.005, answer + answer]

    with RawServer(twice) as server:
        result = await Run(make_spec(server.url(), users=1, requests=40, interval=0.2,
                                     transport="fast", timeout=1)).run()
    o = result.overall
    assert o.completed == server.received == 40 and o.failed == 0
    assert o.latency.min_s > 0.004  # every answer took the server's 5 ms
    assert server.connections == 40  # a connection that said too much is not used again


async def test_a_body_longer_than_its_length_completes_and_drops_the_connection() -> None:
    with RawServer(lambda n, seen: [head(Content_Length=2) + b"OKXYZ"]) as server:
        result = await Run(make_spec(server.url(), users=2, requests=60, interval=0.2,
                                     transport="fast", timeout=1)).run()
    o = result.overall
    assert o.completed == server.received == 60 and o.failed == 0
    assert server.connections == 60


async def test_unsolicited_bytes_on_an_idle_connection_retire_it() -> None:
    """Half a response arrives while the user thinks: the next request must not be parsed
    after it."""
    def tail(n: int, seen: Seen) -> list[Step]:
        return [*fixed(), 0.01, b"HTTP/1.1 200 X\r\nContent-Le"]

    with RawServer(tail) as server:
        result = await Run(make_spec(server.url(), users=1, requests=8, think_time=0.06,
                                     interval=0.2, transport="fast", timeout=1)).run()
    s = result.summary
    assert s["completed_requests"] == server.received == 8, s["errors"]
    assert server.connections == 8


@TRANSPORTS
async def test_a_cut_body_after_an_interim_response_is_an_incomplete_body(transport: str) -> None:
    def cut(n: int, seen: Seen) -> list[Step]:
        return [b"HTTP/1.1 100 Continue\r\n\r\n" + head(Content_Length=100) + b"abc", CLOSE]

    with RawServer(cut) as server:
        result = await Run(make_spec(server.url(), users=1, requests=6, interval=0.2,
                                     transport=transport, timeout=5)).run()
    s = result.summary
    # each failure is seen at the close (an incomplete body), not at the timeout: 6 of them
    # would take 30 s; the bound only catches that
    assert s["errors"] == {"incomplete body": 6} and server.received == 6
    assert s["duration_s"] < 5


async def test_a_driver_that_raises_ends_its_chain_with_the_error_and_counts_nothing_twice(
        ) -> None:
    class Raising:
        def __init__(self) -> None:
            self.asked = self.done_calls = self.failed_calls = 0

        def next(self) -> bool:
            self.asked += 1
            return self.asked == 1

        def done(self, status: int, nbytes: int, more: bool) -> bool:
            self.done_calls += 1
            raise RuntimeError("a bug in the driver")

        def failed(self, exc: BaseException) -> None:
            self.failed_calls += 1

    with RawServer() as server:
        transport = FastTransport(make_spec(server.url()).transport_options())
        driver = Raising()
        try:
            with pytest.raises(RuntimeError, match="a bug in the driver"):
                await asyncio.wait_for(transport.drive(driver), 2)
        finally:
            await transport.aclose()
    assert (driver.done_calls, driver.failed_calls) == (1, 0)


async def test_connections_of_retired_users_close_after_the_idle_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import loadnb.transport.sweeper as sweeper

    monkeypatch.setattr(sweeper, "IDLE_TIMEOUT", 0.2)
    with RawHTTPServer(lambda i: Action(delay=0.02)) as server:
        run = Run(make_spec(server.url, users=6, duration=1.6, interval=0.1, transport="fast"))
        run.start()
        await until(lambda: server.open == 6, 1.0, what="6 connections open")
        run.set_users(2)
        # retired within 0.05 s, idle 0.2 s, swept within 0.05 s; the run lasts 1.6 s
        await until(lambda: server.open == 2, 1.2, what="the retired users' connections closed")
        assert not run.done
        result = await run.wait()
    assert result.summary["failed_requests"] == 0
    assert result.summary["total_requests"] == server.received


def test_a_failed_swap_leaves_the_hot_path_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy reads the raw latencies in place: a swap that raises must not leave them locked
    (an array exporting its buffer cannot grow, and every later record would raise)."""
    views = []

    def failing(self: Histogram, seconds: Any) -> None:
        views.append(seconds)  # kept alive, as a traceback would keep it
        raise ValueError("boom")

    recorder = Recorder()
    acc = recorder.stats_for("GET /")
    acc.response(True, 200, 0.001, 0.001, 2)
    with monkeypatch.context() as patch:
        patch.setattr(Histogram, "add_seconds", failing)
        with pytest.raises(ValueError, match="boom"):
            recorder.swap()
    acc.response(True, 200, 0.002, 0.001, 2)
    assert recorder.swap()["GET /"].completed == 1


@pytest.mark.parametrize("closing", ["keepalive off", "server closes"])
async def test_users_take_turns_when_connections_end_with_their_response(
        closing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slot freed by a closed connection goes to the first user waiting, not to the user whose
    connection just closed (who would otherwise open a new one at once, ahead of everyone):
    every request gets its connection in the order it asked for one."""
    grants = record_grants(monkeypatch)
    plan = lambda i: Action(delay=0.001, close=closing == "server closes")  # noqa: E731
    with RawHTTPServer(plan) as server:
        result = await Run(make_spec(server.url, users=12, connections=2, duration=1.2,
                                     timeout=5, interval=0.2, transport="fast",
                                     keepalive=closing != "keepalive off")).run()
    s = result.summary
    assert s["failed_requests"] == 0, s["errors"]
    assert s["total_requests"] == server.received == server.connections == len(grants)
    assert_first_come_first_served(grants, users=12)
