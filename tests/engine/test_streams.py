"""WebSocket and SSE in scenarios against real aiohttp servers (the demo app, in this process):
loadnb's counts equal the server's, per connection and per run; failed connects, close codes and
drops are counted and classified and never crash the run."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from loadnb.demo.app import create_app
from loadnb.engine.streams import StreamClosed, StreamError
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.conftest import assert_accounting
from tests.streams import echo_then_feed


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A demo app of its own on a loopback port (its ``/stats`` count only this test)."""
    runner = web.AppRunner(create_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def stats(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url + "/stats") as resp:
        value: dict[str, Any] = await resp.json()
        return value


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_websocket_counts_equal_the_echo_servers(server: str) -> None:
    async def chat(user: Any) -> None:
        async with user.websocket("/ws/echo", name="echo") as ws:
            for i in range(3):
                assert await ws.request(f"hello {i}") == f"hello {i}"
            await ws.send(b"\x00\x01")
            assert await ws.receive() == b"\x00\x01"

    result = await Run(make_spec(server, scenario=chat, users=3, requests=30, interval=0.1,
                                 thresholds=["p95[echo]<10s", "messages_sent[echo]>=120"],
                                 history="off")).run()
    s = assert_accounting(result)
    echo, seen = s["messages"]["echo"], (await stats(server))["ws"]
    assert echo["opened"] == echo["closed"] == seen["connections"] == seen["closed"] == 30
    assert echo["sent"] == seen["received"] == 120 and echo["received"] == seen["sent"] == 120
    assert echo["bytes_sent"] == echo["bytes_received"] == 30 * (3 * 7 + 2)
    assert echo["close_codes"] == {"1000": 30} and echo["errors"] == {} and echo["failed"] == 0
    assert echo["p50_ms"] is not None and echo["first_message_p50_ms"] is not None
    assert [t["passed"] for t in s["thresholds"]] == [True, True]
    assert s["iterations"]["chat"] == {"iterations": 30, "failed": 0}
    df = result.df
    assert df["interval_messages_sent"].sum() == 120 and df["connected"].iloc[-1] == 0
    assert result.messages.groupby("name")["received"].sum().to_dict() == {"echo": 120}


async def test_sse_counts_exactly_n_events_per_connection(server: str) -> None:
    per_connection: list[int] = []

    async def watch(user: Any) -> None:
        events = [e async for e in user.sse("/sse?n=7&interval_ms=1", name="feed")]
        assert [e.id for e in events] == [str(i) for i in range(1, 8)]
        assert {e.event for e in events} == {"tick"} and events[-1].data == "7"
        per_connection.append(len(events))

    result = await Run(make_spec(server, scenario=watch, users=4, requests=20, interval=0.1,
                                 thresholds=["messages_received[feed]>=140"],
                                 history="off")).run()
    s = assert_accounting(result)
    feed, seen = s["messages"]["feed"], (await stats(server))["sse"]
    assert per_connection == [7] * 20
    assert feed["received"] == seen["events"] == 140 and feed["kind"] == "sse"
    assert feed["opened"] == feed["closed"] == seen["connections"] == seen["completed"] == 20
    assert feed["errors"] == {} and s["thresholds"][0]["passed"]


async def test_failed_connects_are_counted_and_classified_not_fatal() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    async def both(user: Any) -> None:
        try:
            async with user.websocket("/ws/echo", name="echo"):
                raise AssertionError("connected to nothing")
        except StreamError as exc:
            assert exc.kind == "connection refused"
        async for _ in user.sse("/sse", name="feed"):
            raise AssertionError("an event from nothing")

    result = await Run(make_spec(url, scenario=both, users=1, requests=10, interval=0.1,
                                 history="off")).run()
    s = result.summary
    assert s["state"] == "done"
    echo, feed = s["messages"]["echo"], s["messages"]["feed"]
    assert (echo["failed"], echo["opened"], feed["failed"], feed["opened"]) == (5, 0, 5, 0)
    assert echo["errors"] == feed["errors"] == {"connection refused": 5}
    assert s["iterations"]["both"] == {"iterations": 5, "failed": 5}  # the SSE raised


async def test_a_server_closing_with_a_code_is_counted_per_code(server: str) -> None:
    async def chat(user: Any) -> None:
        async with user.websocket("/ws/echo?close_after=2&code=1011", name="echo") as ws:
            await ws.request("a")
            await ws.request("b")
            with pytest.raises(StreamClosed) as closed:
                await ws.receive()
            assert closed.value.code == 1011 and ws.closed

    result = await Run(make_spec(server, scenario=chat, users=2, requests=8, interval=0.1,
                                 history="off")).run()
    s = assert_accounting(result)
    echo = s["messages"]["echo"]
    assert echo["close_codes"] == {"1011": 8} and echo["errors"] == {"WS close 1011": 8}
    assert echo["received"] == (await stats(server))["ws"]["sent"] == 16
    assert s["iterations"]["chat"]["failed"] == 0


async def test_a_server_dropping_mid_stream_is_counted_as_dropped(server: str) -> None:
    async def cut(user: Any) -> None:
        async with user.websocket("/ws/echo?drop_after=1", name="echo") as ws:
            await ws.request("kept")
            await ws.send("lost")
            with pytest.raises(StreamClosed):
                await ws.receive()
        received = []
        with pytest.raises(StreamError) as dropped:
            async for event in user.sse("/sse?n=10&drop_after=4", name="feed"):
                received.append(event.data)
        assert dropped.value.kind == "dropped" and received == ["1", "2", "3", "4"]

    result = await Run(make_spec(server, scenario=cut, users=1, requests=12, interval=0.1,
                                 history="off")).run()
    s = assert_accounting(result)
    echo, feed = s["messages"]["echo"], s["messages"]["feed"]
    assert echo["errors"] == {"dropped": 6} and echo["closed"] == echo["opened"] == 6
    assert echo["received"] == 6 and echo["sent"] == 12
    assert feed["errors"] == {"dropped": 6} and feed["received"] == 24
    assert feed["closed"] == feed["opened"] == 6
    assert s["state"] == "done" and result.df["connected"].iloc[-1] == 0


async def test_stream_counts_travel_to_the_history_and_the_exports(server: str,
                                                                   tmp_path: Any) -> None:
    from loadnb.history.reader import load

    history = tmp_path / "h.sqlite"
    live = await Run(make_spec(server, scenario=echo_then_feed(3), users=1, requests=10,
                               interval=0.1,
                               thresholds=["messages_received[feed]>=15"],
                               history=str(history))).run()
    want = live.summary["messages"]
    assert want["feed"]["received"] == 15 and want["echo"]["received"] == 5
    for loaded in (load("last", history), load(str(live.to_json(tmp_path / "r.json"))),
                   load(str(live.to_parquet(tmp_path / "r.parquet")))):
        assert loaded.summary["messages"] == want
        assert loaded.df["interval_messages_received"].sum() == 20
        assert loaded.messages["received"].sum() == 20
        assert loaded.summary["thresholds"] == live.summary["thresholds"]
