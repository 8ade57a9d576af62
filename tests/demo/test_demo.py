"""Tests for the built-in demo target server (loadnb.demo): its endpoints, in-process.

The child process and the command line are in test_demo_process.py. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from loadnb import demo
from loadnb.demo import app as demo_app

ClientFactory = Callable[..., Any]


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Any]]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(**options: Any) -> TestClient[web.Request, web.Application]:
        client = TestClient(TestServer(demo.create_app(**options), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


# ---------------------------------------------------------------- endpoints, in-process


async def test_root_is_ok_and_never_sleeps(make_client: ClientFactory, monkeypatch: Any) -> None:
    sleeps: list[float] = []

    async def spy(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(demo_app, "_sleep", spy)
    client = await make_client()
    for _ in range(5):
        resp = await client.get("/")
        assert resp.status == 200
        assert await resp.text() == "OK"
        assert resp.content_type == "text/plain"
    assert sleeps == []
    resp = await client.get("/?delay_ms=30")  # overrides apply on / too
    assert resp.status == 200 and sleeps == [pytest.approx(0.03)]


async def test_delay_sleeps_with_bounded_jitter(
    make_client: ClientFactory, monkeypatch: Any
) -> None:
    client = await make_client(seed=3)
    started = time.perf_counter()
    resp = await client.get("/delay?delay_ms=120")
    assert resp.status == 200 and await resp.text() == "OK"
    assert time.perf_counter() - started >= 0.11

    sleeps: list[float] = []

    async def spy(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(demo_app, "_sleep", spy)
    for _ in range(40):
        assert (await client.get("/delay?delay_ms=20&jitter_ms=10")).status == 200
    assert len(sleeps) == 40
    assert all(0.010 <= s <= 0.030 for s in sleeps)
    assert max(sleeps) - min(sleeps) > 0.005  # really jittered


async def test_server_defaults_apply_and_query_overrides(
    make_client: ClientFactory, monkeypatch: Any
) -> None:
    sleeps: list[float] = []

    async def spy(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(demo_app, "_sleep", spy)
    client = await make_client(latency_ms=50, error_rate=1.0)
    assert (await client.get("/")).status == 500
    assert (await client.get("/api/items")).status == 500
    assert (await client.get("/?error_rate=0")).status == 200
    assert (await client.get("/?status=503")).status == 503
    assert (await client.get("/?delay_ms=0&error_rate=0")).status == 200
    assert sleeps == [pytest.approx(0.05)] * 4  # the last one did not sleep


async def test_error_rate_follows_the_seed(make_client: ClientFactory) -> None:
    client = await make_client(error_rate=0.3, seed=42)
    statuses = [(await client.get("/")).status for _ in range(60)]
    rng = random.Random(42)
    expected = [500 if rng.random() < 0.3 else 200 for _ in range(60)]
    assert statuses == expected
    assert 200 in statuses and 500 in statuses


@pytest.mark.parametrize(
    "query",
    ["delay_ms=abc", "delay_ms=-1", "delay_ms=nan", "delay_ms=inf", "jitter_ms=-5",
     "error_rate=1.5", "error_rate=x", "status=99", "status=600", "status=5x"],
)
async def test_bad_query_is_a_one_line_400(make_client: ClientFactory, query: str) -> None:
    client = await make_client()
    resp = await client.get(f"/delay?{query}")
    assert resp.status == 400
    text = await resp.text()
    assert text.strip() and "\n" not in text.strip()
    assert query.split("=")[0].split("_")[0] in text


async def test_status_endpoint(make_client: ClientFactory) -> None:
    client = await make_client()
    for code in (200, 201, 404, 418, 503):
        assert (await client.get(f"/status/{code}")).status == code
    resp = await client.get("/status/204")
    assert resp.status == 204 and await resp.read() == b""
    for bad in ("abc", "99", "600"):
        assert (await client.get(f"/status/{bad}")).status == 400


async def test_bytes_endpoint(make_client: ClientFactory) -> None:
    client = await make_client()
    for n in (0, 1, 1000, 1024 * 1024):
        resp = await client.get(f"/bytes/{n}")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert len(await resp.read()) == n
    assert (await client.get(f"/bytes/{demo.MAX_BYTES + 1}")).status == 400
    assert (await client.get("/bytes/lots")).status == 400


async def test_items_api(make_client: ClientFactory) -> None:
    client = await make_client()
    items = await (await client.get("/api/items")).json()
    assert len(items) >= 3 and all(isinstance(i["id"], int) and i["name"] for i in items)
    assert len(await (await client.get("/api/items?limit=2")).json()) == 2
    assert await (await client.get("/api/items?limit=0")).json() == []
    assert (await client.get("/api/items?limit=-1")).status == 400
    assert (await client.get("/api/items?limit=ten")).status == 400

    resp = await client.post("/api/items", json={"name": "eggs", "price": 3, "id": "ignored"})
    assert resp.status == 201
    created = await resp.json()
    assert isinstance(created["id"], int) and created["name"] == "eggs" and created["price"] == 3
    assert created["id"] not in {i["id"] for i in items}
    fetched = await client.get(f"/api/items/{created['id']}")
    assert fetched.status == 200 and await fetched.json() == created
    assert len(await (await client.get("/api/items")).json()) == len(items) + 1

    for body in (b"{not json", b"[1, 2]", b'{"price": 1}', b'{"name": ""}', b'{"name": 5}'):
        resp = await client.post("/api/items", data=body)
        assert resp.status == 400, body
    assert (await client.get("/api/items/999999")).status == 404
    assert (await client.get("/api/items/abc")).status == 404


#: The message streams' part of an empty ``/stats`` (see tests/demo/test_demo_streams.py).
NO_STREAMS = {"ws": {"connections": 0, "received": 0, "sent": 0, "closed": 0, "open": 0},
              "sse": {"connections": 0, "events": 0, "completed": 0, "open": 0}}


async def test_stats_count_requests_and_responses(make_client: ClientFactory) -> None:
    client = await make_client()
    empty = await (await client.get("/stats")).json()
    assert empty == {"requests": 0, "responses": {}, "by_path": {}, "in_flight": 0, **NO_STREAMS}
    for _ in range(7):
        await client.get("/")
    for _ in range(3):
        await client.get("/?error_rate=1&status=502")
    await client.get("/status/404")
    await client.get("/no/such/path")
    await client.get("/?delay_ms=bad")
    await client.post("/api/items", json={"name": "x"})
    stats = await (await client.get("/stats")).json()
    assert stats["requests"] == 14
    assert stats["responses"] == {"200": 7, "201": 1, "400": 1, "404": 2, "502": 3}
    assert stats["by_path"] == {"/": 11, "/status/404": 1, "/no/such/path": 1, "/api/items": 1}
    assert stats["in_flight"] == 0

    reset = await client.post("/stats/reset")
    assert reset.status == 200
    assert (await reset.json())["requests"] == 0
    stats = await (await client.get("/stats")).json()
    assert stats == {"requests": 0, "responses": {}, "by_path": {}, "in_flight": 0, **NO_STREAMS}


async def test_stats_count_request_on_arrival(make_client: ClientFactory) -> None:
    client = await make_client()
    slow = asyncio.create_task(client.get("/delay?delay_ms=400"))
    stats: dict[str, Any] = {}
    for _ in range(100):  # bounded wait for the request to arrive
        stats = await (await client.get("/stats")).json()
        if stats["in_flight"]:
            break
        await asyncio.sleep(0.01)
    assert stats["in_flight"] == 1 and stats["requests"] == 1 and stats["responses"] == {}
    assert (await slow).status == 200
    stats = await (await client.get("/stats")).json()
    assert stats["in_flight"] == 0 and stats["responses"] == {"200": 1}


def test_create_app_and_serve_validate() -> None:
    for bad in ({"latency_ms": -1}, {"jitter_ms": float("nan")}, {"error_rate": 1.01}):
        with pytest.raises(ValueError):
            demo.create_app(**bad)
    for host in ("0.0.0.0", "192.168.1.10", "example.com", "::"):
        with pytest.raises(ValueError, match="loopback"):
            demo.serve(host=host, port=0)
