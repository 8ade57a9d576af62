"""Tests for the built-in demo target server (loadnb.demo): endpoints in-process, the child process,
and the command line. All traffic goes to 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from loadnb import demo
from loadnb.demo import app as demo_app
from loadnb.demo import process as demo_process
from loadnb.demo.process import _REGISTRY
from tests.conftest import until

ROOT = str(Path(demo.__file__).resolve().parent.parent)
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _refuses(url_port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", url_port), timeout=1).close()
    except OSError:
        return True
    return False


def _port(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


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


async def test_stats_count_requests_and_responses(make_client: ClientFactory) -> None:
    client = await make_client()
    empty = await (await client.get("/stats")).json()
    assert empty == {"requests": 0, "responses": {}, "by_path": {}, "in_flight": 0}
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
    assert stats == {"requests": 0, "responses": {}, "by_path": {}, "in_flight": 0}


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


# ---------------------------------------------------------------- the child process


async def test_start_stop_real_subprocess() -> None:
    seed, n = 7, 50
    url = await demo.start(error_rate=0.2, seed=seed)
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        proc = _REGISTRY.children[url].process
        assert proc.pid != os.getpid() and _alive(proc.pid)
        async with aiohttp.ClientSession() as session:
            async def one() -> int:
                async with session.get(url) as resp:
                    await resp.read()
                    return resp.status

            statuses = await asyncio.gather(*(one() for _ in range(n)))
            async with session.get(url + "stats") as resp:
                stats = await resp.json()
    finally:
        await demo.stop(url)
    rng = random.Random(seed)
    errors = sum(rng.random() < 0.2 for _ in range(n))
    assert stats["requests"] == n
    assert sum(stats["responses"].values()) == n
    assert stats["responses"] == {"200": n - errors, "500": errors}
    assert 0 < errors < n
    assert statuses.count(500) == errors and statuses.count(200) == n - errors
    assert proc.returncode is not None and not _alive(proc.pid)
    assert _refuses(_port(url))
    assert url not in _REGISTRY.children
    with pytest.raises(ValueError):
        await demo.stop(url)


async def test_start_validates_and_reports_child_failure() -> None:
    before = dict(_REGISTRY.children)  # the session's demo server may be running
    with pytest.raises(ValueError):
        await demo.start(error_rate=2)
    with pytest.raises(ValueError):
        await demo.start(port=70000)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(RuntimeError, match="exited .*address"):
            await demo.start(busy.getsockname()[1])
        with pytest.raises(RuntimeError, match="exited .*address"):
            demo.start_sync(busy.getsockname()[1])
    with pytest.raises(RuntimeError, match="did not start within"):
        await demo.start(timeout=0.001)
    with pytest.raises(RuntimeError, match="did not start within"):
        demo.start_sync(timeout=0.001)
    assert _REGISTRY.children == before


def test_start_sync_and_stop_sync() -> None:
    url = demo.start_sync(latency_ms=1)
    proc = _REGISTRY.children[url].process
    try:
        with socket.create_connection(("127.0.0.1", _port(url)), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            for _ in range(100):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"OK")
    finally:
        demo.stop_sync(url)
    assert proc.returncode is not None and _refuses(_port(url))


@pytest.fixture
def spawned(monkeypatch: Any) -> list[Any]:
    """Every child the demo spawns during the test (async and sync starts alike)."""
    children: list[Any] = []
    real = demo_process._spawn

    def spy(*args: Any) -> Any:
        children.append(real(*args))
        return children[-1]

    monkeypatch.setattr(demo_process, "_spawn", spy)
    return children


def _released(child: Any) -> bool:
    """The child has exited and its pipes are closed (nothing left behind)."""
    return bool(child.process.returncode is not None and child.process.stdout.closed
                and child.stderr.closed and not _alive(child.process.pid))


async def test_async_and_sync_share_one_lifecycle(spawned: list[Any]) -> None:
    first = await demo.start()
    second = demo.start_sync()  # blocking, inside this running loop: works as before
    try:
        assert first != second and len(spawned) == 2
        assert {first, second} <= _REGISTRY.children.keys()
        assert _REGISTRY.children[first] is spawned[0]
        assert _REGISTRY.children[second] is spawned[1]
        assert type(spawned[0].process) is type(spawned[1].process)
        for url in (first, second):
            assert not _refuses(_port(url))
    finally:
        demo.stop_sync(first)  # started async, stopped sync
        await demo.stop(second)  # started sync, stopped async
    assert first not in _REGISTRY.children and second not in _REGISTRY.children
    assert all(_released(child) for child in spawned)
    assert _refuses(_port(first)) and _refuses(_port(second))
    for url in (first, second):
        with pytest.raises(ValueError, match="no demo server started here"):
            demo.stop_sync(url)
        with pytest.raises(ValueError, match="no demo server started here"):
            await demo.stop(url)


async def test_a_failed_start_is_one_error_from_both_apis(spawned: list[Any]) -> None:
    before = dict(_REGISTRY.children)  # the session's demo server may be running
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError) as from_async:
            await demo.start(port)
        with pytest.raises(RuntimeError) as from_sync:
            demo.start_sync(port)
    message = str(from_async.value)
    assert message == str(from_sync.value)
    assert message.startswith("demo server exited (status 2) before it was ready: ")
    assert "address" in message and "Traceback" not in message
    assert len(spawned) == 2 and all(_released(child) for child in spawned)
    assert _REGISTRY.children == before


async def test_cancelled_start_leaves_nothing_behind(spawned: list[Any]) -> None:
    before = dict(_REGISTRY.children)  # the session's demo server may be running
    task = asyncio.create_task(demo.start())
    await until(lambda: bool(spawned), 2, what="the spawn")
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _released(spawned[0]) and _REGISTRY.children == before


@pytest.mark.skipif(sys.platform == "win32", reason="the parent watch is POSIX-only")
def test_child_dies_with_its_parent() -> None:
    script = (
        "import time, loadnb.demo.process as d; url = d.start_sync(); "
        "print(url, d._REGISTRY.children[url].process.pid, flush=True); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    pid = ""
    try:
        assert parent.stdout is not None
        url, pid = parent.stdout.readline().decode().split()
        assert url.startswith("http://127.0.0.1:") and _alive(int(pid))
        assert not _refuses(_port(url))
        parent.kill()  # abrupt: no atexit
        parent.wait(5)
        for _ in range(100):  # bounded: about 10 s
            if _refuses(_port(url)):
                break
            time.sleep(0.1)
        assert _refuses(_port(url))
        for _ in range(50):  # it exits, and is reaped by whoever adopted it
            if not _alive(int(pid)):
                break
            time.sleep(0.1)
    finally:
        if pid and _alive(int(pid)):
            os.kill(int(pid), signal.SIGKILL)
        parent.kill()
        parent.wait(5)
        if parent.stdout:
            parent.stdout.close()


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize(
    "argv",
    [["--port", "abc"], ["--port", "-1"], ["--port", "70000"], ["--error-rate", "1.5"],
     ["--latency-ms", "-3"], ["--host", "0.0.0.0"], ["--bogus"]],
)
def test_cli_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("loadnb demo: error:")
    assert "Traceback" not in err


def test_cli_as_module_exit_2_and_help() -> None:
    env = {**os.environ, "PYTHONPATH": ROOT}
    bad = subprocess.run([sys.executable, "-m", "loadnb.demo", "--error-rate", "2"],
                         capture_output=True, text=True, timeout=30, env=env)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "error-rate" in bad.stderr.replace("_", "-")
    helped = subprocess.run([sys.executable, "-m", "loadnb.demo", "--help"],
                            capture_output=True, text=True, timeout=30, env=env)
    assert helped.returncode == 0 and "--port" in helped.stdout


def test_cli_busy_port_is_one_line_and_exit_2() -> None:
    env = {**os.environ, "PYTHONPATH": ROOT}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "loadnb.cli", "demo", "--port", str(port)],
                              capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr == (f"loadnb demo: error: port {port} on 127.0.0.1 is in use (address "
                           "already in use): pick another --port, or --port 0 for a free one\n")
