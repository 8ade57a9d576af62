"""The demo server's message streams: ``/ws/echo`` and ``/sse``, counted in ``/stats``, with
their faults on request and bad queries refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from loadnb import demo


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    made: TestClient[web.Request, web.Application] = TestClient(
        TestServer(demo.create_app(), host="127.0.0.1"))
    await made.start_server()
    yield made
    await made.close()


async def counts(client: Any) -> dict[str, Any]:
    value: dict[str, Any] = await (await client.get("/stats")).json()
    return value


async def test_the_echo_socket_echoes_and_counts(client: Any) -> None:
    ws = await client.ws_connect("/ws/echo")
    await ws.send_str("a")
    assert (await ws.receive()).data == "a"
    await ws.send_bytes(b"\x01")
    assert (await ws.receive()).data == b"\x01"
    assert (await counts(client))["ws"] == {"connections": 1, "received": 2, "sent": 2,
                                            "closed": 0, "open": 1}
    await ws.close()
    stats = await counts(client)
    assert stats["ws"]["closed"] == 1 and stats["ws"]["open"] == 0
    assert stats["by_path"] == {"/ws/echo": 1} and stats["responses"] == {"101": 1}


async def test_the_echo_socket_closes_with_a_code_on_request(client: Any) -> None:
    ws = await client.ws_connect("/ws/echo?close_after=1&code=4001")
    await ws.send_str("x")
    assert (await ws.receive()).data == "x"
    closing = await ws.receive()
    assert closing.type == WSMsgType.CLOSE and ws.close_code == 4001


async def test_sse_sends_n_events_then_ends(client: Any) -> None:
    resp = await client.get("/sse?n=3&interval_ms=1")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    body = await resp.text()
    assert body == "".join(f"id: {i}\nevent: tick\ndata: {i}\n\n" for i in (1, 2, 3))
    assert (await counts(client))["sse"] == {"connections": 1, "events": 3, "completed": 1,
                                             "open": 0}
    reset = await (await client.post("/stats/reset")).json()
    assert reset["sse"]["events"] == 0 and reset["ws"]["connections"] == 0


@pytest.mark.parametrize("query", ["/sse?n=-1", "/sse?n=x", "/sse?interval_ms=nan",
                                   "/ws/echo?code=99999", "/ws/echo?close_after=a"])
async def test_bad_queries_are_refused(client: Any, query: str) -> None:
    resp = await client.get(query)
    assert resp.status == 400 and "must be" in await resp.text()
