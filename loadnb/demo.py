"""The built-in demo target: an aiohttp.web server on 127.0.0.1 for notebooks, README and tests.

Load endpoints (all honour the server defaults and the per-request query overrides ``delay_ms``,
``jitter_ms``, ``error_rate`` and ``status``): ``GET /``, ``GET /delay``, ``GET /status/{code}``,
``GET /bytes/{n}`` and the JSON API ``GET|POST /api/items``, ``GET /api/items/{id}``. ``GET /stats``
reports what the server counted; ``POST /stats/reset`` zeroes it. In a notebook, run it in its own
process (``url = await loadnb.demo.start()``) so it does not compete with the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import ipaddress
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
from asyncio import sleep as _sleep
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from queue import Empty, Queue
from typing import IO, Any, NoReturn

from aiohttp import web

MAX_BYTES = 64 * 1024 * 1024  #: largest payload ``/bytes/{n}`` serves
MAX_DELAY_MS = 600_000.0  #: largest accepted delay or jitter (10 minutes)
MAX_ITEMS = 10_000  #: the item store forgets its oldest items beyond this
MAX_PATHS = 1_000  #: distinct paths counted in ``by_path``; more fold into ``(other)``
_READY = re.compile(r"loadnb demo server on (http://\S+/)")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SEED_ITEMS = ({"name": "apple", "price": 1.25}, {"name": "bread", "price": 2.5},
               {"name": "cheese", "price": 7.0}, {"name": "dates", "price": 4.75})


class _Bad(ValueError):
    """A bad query or path value; becomes a 400 with this one-line message."""


def _number(name: str, value: str | float, high: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise _Bad(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(x) and 0 <= x <= high):
        raise _Bad(f"{name} must be between 0 and {high:g}, got {value!r}")
    return x


def _integer(name: str, value: str | int, low: int, high: int) -> int:
    try:
        x = int(value)
    except (TypeError, ValueError):
        raise _Bad(f"{name} must be an integer, got {value!r}") from None
    if not low <= x <= high:
        raise _Bad(f"{name} must be between {low} and {high}, got {value!r}")
    return x


@dataclass
class _State:
    latency_ms: float
    jitter_ms: float
    error_rate: float
    rng: random.Random
    requests: int = 0
    in_flight: int = 0
    responses: dict[int, int] = field(default_factory=dict)
    by_path: dict[str, int] = field(default_factory=dict)
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1

    def stats(self) -> dict[str, Any]:
        responses = {str(k): v for k, v in sorted(self.responses.items())}
        return {"requests": self.requests, "responses": responses,
                "by_path": dict(self.by_path), "in_flight": self.in_flight}

    def add_item(self, body: Mapping[str, Any]) -> dict[str, Any]:
        item = {"id": self.next_id, **{k: v for k, v in body.items() if k != "id"}}
        self.items[self.next_id] = item
        self.next_id += 1
        while len(self.items) > MAX_ITEMS:
            del self.items[next(iter(self.items))]
        return item


_STATE = web.AppKey("loadnb_demo_state", _State)


def _text(status: int, text: str) -> web.Response:
    if status in (204, 205, 304):
        return web.Response(status=status)
    return web.Response(status=status, text=text + "\n")


@web.middleware
async def _load_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    path = request.path
    if path == "/stats" or path == "/stats/reset":
        return await handler(request)
    st = request.app[_STATE]
    st.requests += 1
    key = path if path in st.by_path or len(st.by_path) < MAX_PATHS else "(other)"
    st.by_path[key] = st.by_path.get(key, 0) + 1
    st.in_flight += 1
    status: int | None = 500  # an unexpected exception becomes a 500
    try:
        response: web.StreamResponse
        try:
            response = await _apply_load(request, st, handler)
        except _Bad as exc:
            response = _text(400, str(exc))
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = None  # nothing is sent
        raise
    finally:
        st.in_flight -= 1
        if status is not None:
            st.responses[status] = st.responses.get(status, 0) + 1


async def _apply_load(request: web.Request, st: _State, handler: _Handler) -> web.StreamResponse:
    delay, jitter, rate, status = st.latency_ms, st.jitter_ms, st.error_rate, 500
    if request.query_string:
        q = request.query
        if "delay_ms" in q:
            delay = _number("delay_ms", q["delay_ms"], MAX_DELAY_MS)
        if "jitter_ms" in q:
            jitter = _number("jitter_ms", q["jitter_ms"], MAX_DELAY_MS)
        if "error_rate" in q:
            rate = _number("error_rate", q["error_rate"], 1.0)
        if "status" in q:
            status = _integer("status", q["status"], 200, 599)
    if jitter:
        delay = max(0.0, delay + st.rng.uniform(-jitter, jitter))
    fail = rate > 0 and st.rng.random() < rate
    if delay > 0:
        await _sleep(delay / 1000)
    if fail:
        return _text(status, f"injected error {status}")
    return await handler(request)


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def _status(request: web.Request) -> web.Response:
    code = _integer("status code", request.match_info["code"], 200, 599)
    return _text(code, f"status {code}")


async def _bytes(request: web.Request) -> web.Response:
    n = _integer("byte count", request.match_info["n"], 0, MAX_BYTES)
    return web.Response(body=bytes(n), content_type="application/octet-stream")


async def _list_items(request: web.Request) -> web.Response:
    limit = _integer("limit", request.query.get("limit", "100"), 0, 1000)
    items = request.app[_STATE].items
    return web.json_response(list(islice(items.values(), limit)))


async def _create_item(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        raise _Bad("body must be JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        raise _Bad('body must be a JSON object with a non-empty string "name"')
    return web.json_response(request.app[_STATE].add_item(body), status=201)


async def _get_item(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    try:
        item = request.app[_STATE].items.get(int(raw))
    except ValueError:
        item = None
    if item is None:
        return _text(404, f"no item {raw}")
    return web.json_response(item)


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE].stats())


async def _reset(request: web.Request) -> web.Response:
    st = request.app[_STATE]
    st.requests = 0
    st.responses.clear()
    st.by_path.clear()
    return web.json_response(st.stats())


def create_app(*, latency_ms: float = 0, jitter_ms: float = 0, error_rate: float = 0,
               seed: int | None = None) -> web.Application:
    """Build the demo app, so tests and embedders can serve it however they like.

    ``latency_ms`` ± ``jitter_ms`` (uniform) and ``error_rate`` (0..1, answered with status 500)
    apply to every load endpoint unless a request overrides them with ``?delay_ms=``,
    ``?jitter_ms=``, ``?error_rate=``, ``?status=``; ``seed`` makes the randomness repeatable.
    Raises ValueError for bad options.

    >>> app = create_app(latency_ms=20, error_rate=0.1, seed=1)
    """
    try:
        state = _State(_number("latency_ms", latency_ms, MAX_DELAY_MS),
                       _number("jitter_ms", jitter_ms, MAX_DELAY_MS),
                       _number("error_rate", error_rate, 1.0), random.Random(seed))
    except _Bad as exc:
        raise ValueError(str(exc)) from None
    for item in _SEED_ITEMS:
        state.add_item(item)
    app = web.Application(middlewares=[_load_middleware])
    app[_STATE] = state
    app.router.add_get("/", _ok)
    app.router.add_get("/delay", _ok)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/bytes/{n}", _bytes)
    app.router.add_get("/api/items", _list_items)
    app.router.add_post("/api/items", _create_item)
    app.router.add_get("/api/items/{id}", _get_item)
    app.router.add_get("/stats", _stats)
    app.router.add_post("/stats/reset", _reset)
    return app


def _loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"the demo server listens on loopback only (e.g. 127.0.0.1), not {host!r}")


async def _serve(host: str, port: int, app: web.Application, parent_pid: int | None) -> None:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=1024).start()
        real_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        print(f"loadnb demo server on http://{shown}:{real_port}/", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not main thread
                pass
        if parent_pid is None or sys.platform == "win32":
            await stop.wait()
        while not stop.is_set() and os.getppid() == parent_pid:  # we end when the parent dies
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
    finally:
        await runner.cleanup()


def serve(host: str = "127.0.0.1", port: int = 8000, *, parent_pid: int | None = None,
          **app_options: Any) -> None:
    """Run the demo server in this process until SIGINT/SIGTERM (blocking; uses uvloop if present).

    Prints ``loadnb demo server on http://127.0.0.1:PORT/`` once listening (the real port when
    ``port=0``), which is how a parent process learns the URL. ``app_options`` go to
    :func:`create_app`. Refuses non-loopback hosts with ValueError. With ``parent_pid`` it exits
    when that process (its parent) dies. Not for a running event loop: use :func:`start` there.

    >>> serve(port=8080, latency_ms=50)  # doctest: +SKIP
    """
    host = _loopback(host)
    _integer("port", port, 0, 65535)
    app = create_app(**app_options)
    if parent_pid is not None and sys.platform != "win32" and os.getppid() != parent_pid:
        raise RuntimeError(f"parent process {parent_pid} is gone")
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(host, port, app, parent_pid))
    else:
        uvloop.run(_serve(host, port, app, parent_pid))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block, no traceback
        raise _Bad(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="loadnb demo", description="Run the loadnb demo target on 127.0.0.1.")
    p.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 = any free port")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="uniform ± jitter on the latency")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of 500 answers (0..1)")
    p.add_argument("--seed", type=int, default=None, help="seed for repeatable randomness")
    p.add_argument("--parent-pid", type=int, default=None, help="exit when this parent dies")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m loadnb.demo --port 0 --latency-ms 20`` (and ``loadnb demo``).

    Returns the exit status: 0 after a clean stop, 2 for bad arguments, 1 if it cannot listen;
    errors are one line on stderr.

    >>> main(["--port", "0", "--error-rate", "0.1"])  # doctest: +SKIP
    """
    try:
        a = _parser().parse_args(argv)
        _integer("--port", a.port, 0, 65535)
        host = _loopback(a.host)
        options = {"latency_ms": a.latency_ms, "jitter_ms": a.jitter_ms,
                   "error_rate": a.error_rate, "seed": a.seed}
        create_app(**options)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except ValueError as exc:
        print(f"loadnb demo: error: {exc}", file=sys.stderr)
        return 2
    try:
        serve(host, a.port, parent_pid=a.parent_pid, **options)
    except (OSError, RuntimeError) as exc:
        print(f"loadnb demo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


_Process = asyncio.subprocess.Process | subprocess.Popen[bytes]


@dataclass
class _Child:
    url: str
    process: _Process
    stderr: IO[bytes]

    def signal(self, *, kill: bool = False) -> None:
        try:
            self.process.kill() if kill else self.process.terminate()
        except (ProcessLookupError, OSError, RuntimeError):
            pass  # already gone, or its event loop is closed

    def close(self, error: str = "") -> RuntimeError:
        """Release the pipes; returns the error to raise, with the tail of the child's stderr."""
        if isinstance(self.process, subprocess.Popen) and self.process.stdout:
            self.process.stdout.close()
        self.stderr.seek(0)
        tail = self.stderr.read()[-4000:].decode(errors="replace").strip()
        self.stderr.close()
        return RuntimeError(f"demo server {error}: {tail or '(no stderr)'}")


class _Registry:
    """The demo servers this process started (by URL); they are stopped at interpreter exit."""

    def __init__(self) -> None:
        self.children: dict[str, _Child] = {}

    def add(self, child: _Child) -> None:
        if not self.children:
            atexit.unregister(stop_sync)
            atexit.register(stop_sync)
        self.children[child.url] = child

    def pop(self, url: str | None) -> list[_Child]:
        if url is None:
            found, self.children = list(self.children.values()), {}
            return found
        url = url if url.endswith("/") else url + "/"
        if url not in self.children:
            raise ValueError(f"no demo server started here at {url}; have {list(self.children)}")
        return [self.children.pop(url)]


_REGISTRY = _Registry()


def _spawn_args(port: int, latency_ms: float, jitter_ms: float, error_rate: float,
                seed: int | None) -> dict[str, Any]:
    _integer("port", port, 0, 65535)
    create_app(latency_ms=latency_ms, jitter_ms=jitter_ms, error_rate=error_rate, seed=seed)
    cmd = [sys.executable, "-m", "loadnb.demo", "--port", str(port), "--parent-pid",
           str(os.getpid()), "--latency-ms", repr(float(latency_ms)), "--jitter-ms",
           repr(float(jitter_ms)), "--error-rate", repr(float(error_rate))]
    cmd += [] if seed is None else ["--seed", str(seed)]
    env = dict(os.environ)
    root = Path(__file__).resolve().parent.parent  # make this very copy importable in the child
    if root.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return {"args": cmd, "env": env, "stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE,
            "stderr": tempfile.TemporaryFile()}  # a file: a full stderr pipe would block it


def _ready(line: bytes) -> str | None:
    match = _READY.search(line.decode(errors="replace"))
    return match.group(1) if match else None


async def start(port: int = 0, *, latency_ms: float = 0, jitter_ms: float = 0,
                error_rate: float = 0, seed: int | None = None, timeout: float = 15.0) -> str:
    """Start the demo server in its own process; return its URL, e.g. ``http://127.0.0.1:43211/``.

    Its own process, so it never competes with the load generator on the notebook's event loop;
    it stops with :func:`stop`, at interpreter exit, or when this process dies. Options as in
    :func:`create_app`. Raises ValueError for bad options, RuntimeError (with the child's stderr)
    if it is not listening within ``timeout`` seconds.

    >>> url = await loadnb.demo.start(latency_ms=20)  # doctest: +SKIP
    """
    spawn = _spawn_args(port, latency_ms, jitter_ms, error_rate, seed)
    try:
        proc = await asyncio.create_subprocess_exec(*spawn.pop("args"), **spawn)
    except BaseException:
        spawn["stderr"].close()
        raise
    child = _Child("", proc, spawn["stderr"])

    async def first_url() -> str | None:
        assert proc.stdout is not None
        for _ in range(100):  # skip any stray lines, but not forever
            line = await proc.stdout.readline()
            if not line or _ready(line):
                return _ready(line)
        return None

    error = "exited (status {}) before it was ready"
    try:
        url = await asyncio.wait_for(first_url(), timeout)
    except asyncio.TimeoutError:
        url, error = None, f"did not start within {timeout} s"
    except BaseException:  # cancelled: don't leave it behind (its loop reaps it)
        child.signal(kill=True)
        child.close()
        raise
    if url is None:
        child.signal(kill=True)
        raise child.close(error.format(await proc.wait()))
    child.url = url
    _REGISTRY.add(child)
    return url


def start_sync(port: int = 0, *, latency_ms: float = 0, jitter_ms: float = 0,
               error_rate: float = 0, seed: int | None = None, timeout: float = 15.0) -> str:
    """Blocking :func:`start` for scripts (``subprocess.Popen``); stop it with :func:`stop_sync`.

    >>> url = start_sync(error_rate=0.05)  # doctest: +SKIP
    """
    spawn = _spawn_args(port, latency_ms, jitter_ms, error_rate, seed)
    try:
        proc = subprocess.Popen(spawn.pop("args"), **spawn)
    except BaseException:
        spawn["stderr"].close()
        raise
    child, found = _Child("", proc, spawn["stderr"]), Queue[str]()

    def reader() -> None:  # a thread, so the wait has a timeout on every platform
        assert proc.stdout is not None
        found.put(next(filter(None, map(_ready, proc.stdout)), ""))

    thread = threading.Thread(target=reader, daemon=True, name="loadnb-demo-start")
    thread.start()
    error = "exited (status {}) before it was ready"
    try:
        child.url = found.get(timeout=timeout)
    except Empty:
        error = f"did not start within {timeout} s"
    if not child.url:
        proc.kill()
        code = proc.wait()
        thread.join(5)
        raise child.close(error.format(code))
    _REGISTRY.add(child)
    return child.url


async def stop(url: str | None = None) -> None:
    """Stop the demo server at ``url`` started by :func:`start` (or all of them if None).

    Waits (a few seconds at most) until the process is gone. Raises ValueError for an unknown URL.

    >>> await loadnb.demo.stop(url)  # doctest: +SKIP
    """
    for child in _REGISTRY.pop(url):
        proc = child.process
        for kill in (False, True):
            child.signal(kill=kill)
            if isinstance(proc, subprocess.Popen):
                for _ in range(250):
                    if proc.poll() is not None:
                        break
                    await asyncio.sleep(0.02)
            else:
                try:
                    await asyncio.wait_for(proc.wait(), 5.0)
                except (asyncio.TimeoutError, RuntimeError):  # RuntimeError: another event loop
                    pass
            if proc.returncode is not None:
                break
        child.close()


def stop_sync(url: str | None = None) -> None:
    """Blocking :func:`stop` (or all if None); also what runs at interpreter exit.

    Servers from :func:`start` are signalled; their own event loop reaps them.

    >>> stop_sync()  # doctest: +SKIP
    """
    children = _REGISTRY.pop(url)
    for child in children:
        child.signal()
    for child in children:
        if isinstance(child.process, subprocess.Popen):
            try:
                child.process.wait(5)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        child.close()


if __name__ == "__main__":
    raise SystemExit(main())
