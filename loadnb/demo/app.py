"""The demo target application: aiohttp.web handlers, the load middleware and their shared state.

Every load endpoint honours the server defaults (latency, jitter, error rate) and the per-request
query overrides ``delay_ms``, ``jitter_ms``, ``error_rate`` and ``status``; ``/stats``,
``/stats/reset`` and ``/metrics`` (Prometheus exposition of the same counts and of the process:
:mod:`loadnb.demo.metrics`) are left out of the load and the counts.
``GET /capacity?c=C&s_ms=S`` is a target of known capacity: C servers each busy S ms per request,
so it answers at most C / S requests per second; it schedules each request on absolute time
(``start = max(now, next_free)``, ``next_free = start + S / C``, the answer at ``start + S``; one
schedule per (C, S)) and sheds a request with a 503 when its wait would exceed ``q_ms`` (default
500), so an overload leaves a backlog of at most that. ``/ws/echo`` and ``/sse`` (message streams,
counted in ``/stats`` as ``ws`` and ``sse``) are in :mod:`loadnb.demo.streams`. Nothing here
starts a server: see :mod:`loadnb.demo.server` (this process) and :mod:`loadnb.demo.process` (a
child process).
"""

from __future__ import annotations

import asyncio
import math
import random
from asyncio import sleep as _sleep
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from aiohttp import web

from . import metrics as _metrics
from . import streams as _streams

MAX_BYTES = 64 * 1024 * 1024  #: largest payload ``/bytes/{n}`` serves
MAX_DELAY_MS = 600_000.0  #: largest accepted delay or jitter (10 minutes)
MAX_ITEMS = 10_000  #: the item store forgets its oldest items beyond this
MAX_PATHS = 1_000  #: distinct paths counted in ``by_path``; more fold into ``(other)``
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SEED_ITEMS = ({"name": "apple", "price": 1.25}, {"name": "bread", "price": 2.5},
               {"name": "cheese", "price": 7.0}, {"name": "dates", "price": 4.75})


class _Bad(ValueError):
    """A bad query or path value; becomes a 400 with this one-line message."""


def _number(name: str, value: str | float, high: float) -> float:
    """``value`` as a finite float in ``[0, high]``, or _Bad naming ``name``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise _Bad(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(x) and 0 <= x <= high):
        raise _Bad(f"{name} must be between 0 and {high:g}, got {value!r}")
    return x


def _integer(name: str, value: str | int, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``, or _Bad naming ``name``."""
    try:
        x = int(value)
    except (TypeError, ValueError):
        raise _Bad(f"{name} must be an integer, got {value!r}") from None
    if not low <= x <= high:
        raise _Bad(f"{name} must be between {low} and {high}, got {value!r}")
    return x


@dataclass
class _State:
    """The server's defaults, its randomness, what it counted and its item store."""

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
    next_free: dict[tuple[int, float], float] = field(default_factory=dict)  # /capacity schedules

    def stats(self) -> dict[str, Any]:
        """The ``/stats`` document."""
        responses = {str(k): v for k, v in sorted(self.responses.items())}
        return {"requests": self.requests, "responses": responses,
                "by_path": dict(self.by_path), "in_flight": self.in_flight}

    def add_item(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``body`` under a new id (any ``id`` in it is ignored); forget the oldest beyond
        MAX_ITEMS."""
        item = {"id": self.next_id, **{k: v for k, v in body.items() if k != "id"}}
        self.items[self.next_id] = item
        self.next_id += 1
        while len(self.items) > MAX_ITEMS:
            del self.items[next(iter(self.items))]
        return item


_STATE = web.AppKey("loadnb_demo_state", _State)
_UNCOUNTED = frozenset({"/stats", "/stats/reset", "/metrics"})  #: not load, not counted


def _text(status: int, text: str) -> web.Response:
    """A one-line text answer (no body for the statuses that must not have one)."""
    if status in (204, 205, 304):
        return web.Response(status=status)
    return web.Response(status=status, text=text + "\n")


@web.middleware
async def _load_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Count the request, apply the latency and injected errors, count the status answered."""
    path = request.path
    if path in _UNCOUNTED:
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
        except (_Bad, _streams.BadQuery) as exc:
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
    """Sleep the (jittered) delay, then answer an injected error or call the handler."""
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
    """``GET /`` and ``GET /delay``."""
    return web.Response(text="OK")


async def _status(request: web.Request) -> web.Response:
    """``GET /status/{code}``."""
    code = _integer("status code", request.match_info["code"], 200, 599)
    return _text(code, f"status {code}")


async def _bytes(request: web.Request) -> web.Response:
    """``GET /bytes/{n}``: n zero bytes."""
    n = _integer("byte count", request.match_info["n"], 0, MAX_BYTES)
    return web.Response(body=bytes(n), content_type="application/octet-stream")


async def _list_items(request: web.Request) -> web.Response:
    """``GET /api/items?limit=``."""
    limit = _integer("limit", request.query.get("limit", "100"), 0, 1000)
    items = request.app[_STATE].items
    return web.json_response(list(islice(items.values(), limit)))


async def _create_item(request: web.Request) -> web.Response:
    """``POST /api/items`` with a JSON object that has a non-empty string ``name``."""
    try:
        body = await request.json()
    except ValueError:
        raise _Bad("body must be JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        raise _Bad('body must be a JSON object with a non-empty string "name"')
    return web.json_response(request.app[_STATE].add_item(body), status=201)


async def _get_item(request: web.Request) -> web.Response:
    """``GET /api/items/{id}``."""
    raw = request.match_info["id"]
    try:
        item = request.app[_STATE].items.get(int(raw))
    except ValueError:
        item = None
    if item is None:
        return _text(404, f"no item {raw}")
    return web.json_response(item)


async def _capacity(request: web.Request) -> web.Response:
    """``GET /capacity?c=C&s_ms=S[&q_ms=Q]``: at most C / S answers per second (C servers, each
    busy S ms per request), scheduled on absolute time; a 503 when the wait would exceed Q ms."""
    q = request.query
    c = _integer("c", q.get("c", "1"), 1, 10_000)
    s = _number("s_ms", q.get("s_ms", "10"), MAX_DELAY_MS) / 1000
    limit = _number("q_ms", q.get("q_ms", "500"), MAX_DELAY_MS) / 1000
    schedules = request.app[_STATE].next_free
    key = (c, s)
    if key not in schedules and len(schedules) >= MAX_PATHS:
        schedules.clear()
    now = asyncio.get_running_loop().time()
    start = max(now, schedules.get(key, now))
    if start - now > limit:
        return _text(503, "over capacity: queue full")
    schedules[key] = start + s / c
    await _sleep(max(0.0, start + s - asyncio.get_running_loop().time()))
    return web.Response(text="OK")


async def _stats(request: web.Request) -> web.Response:
    """``GET /stats``."""
    return web.json_response({**request.app[_STATE].stats(),
                              **_streams.stream_stats(request.app)})


async def _metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text exposition (:mod:`loadnb.demo.metrics`)."""
    st = request.app[_STATE]
    text = _metrics.render(st.by_path, st.responses, st.in_flight)
    return web.Response(body=text.encode(), headers={"Content-Type": _metrics.CONTENT_TYPE})


async def _reset(request: web.Request) -> web.Response:
    """``POST /stats/reset``: zero the counters (not ``in_flight``, not the items)."""
    st = request.app[_STATE]
    st.requests = 0
    st.responses.clear()
    st.by_path.clear()
    request.app[_streams.STREAMS].reset()
    return web.json_response({**st.stats(), **_streams.stream_stats(request.app)})


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
    app.router.add_get("/capacity", _capacity)
    app.router.add_get("/stats", _stats)
    app.router.add_post("/stats/reset", _reset)
    app.router.add_get("/metrics", _metrics_handler)
    _streams.add_routes(app)
    return app


__all__ = ["MAX_BYTES", "MAX_DELAY_MS", "MAX_ITEMS", "MAX_PATHS", "create_app"]
