"""The demo server as a child process (start, stop, lifecycle, parent watch) and its CLI."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadnb import demo
from loadnb.demo import process as demo_process
from loadnb.demo.process import _REGISTRY
from tests.conftest import until

ROOT = str(Path(demo.__file__).resolve().parent.parent)


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
