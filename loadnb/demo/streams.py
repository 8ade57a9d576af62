"""The demo server's message streams: ``/ws/echo`` (a WebSocket that echoes every message) and
``/sse?n=N&interval_ms=M`` (N server-sent events, then the end of the response), with their
counts in ``/stats`` (``ws`` and ``sse``).

Faults on request, to see how a client counts them: ``/ws/echo?close_after=K&code=C`` closes
with code C (default 1000) after echoing K messages, ``/ws/echo?drop_after=K`` and
``/sse?drop_after=K`` cut the connection (no close frame, no end of the response) after K
messages.
"""

from __future__ import annotations

import math
from asyncio import sleep
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import WSMsgType, web

MAX_EVENTS = 1_000_000  #: most events one ``/sse`` request asks for
MAX_INTERVAL_MS = 60_000.0  #: longest pause between events


class BadQuery(ValueError):
    """A bad query value (the caller answers 400 with this message)."""


@dataclass
class StreamCounts:
    """What the server's streams counted: WebSocket connections, messages received and sent,
    closes; event streams started, events sent, streams ended; connections open now."""

    ws_connections: int = 0
    ws_received: int = 0
    ws_sent: int = 0
    ws_closed: int = 0
    ws_open: int = 0
    sse_connections: int = 0
    sse_events: int = 0
    sse_completed: int = 0
    sse_open: int = 0

    def stats(self) -> dict[str, dict[str, int]]:
        """The ``ws`` and ``sse`` parts of ``/stats``."""
        counts = asdict(self)
        return {kind: {k[len(kind) + 1:]: v for k, v in counts.items()
                       if k.startswith(kind + "_")} for kind in ("ws", "sse")}

    def reset(self) -> None:
        """Zero the counts (not the connections open now)."""
        open_ws, open_sse = self.ws_open, self.sse_open
        self.__init__()  # type: ignore[misc]
        self.ws_open, self.sse_open = open_ws, open_sse


STREAMS = web.AppKey("loadnb_demo_streams", StreamCounts)


def _count(request: web.Request, name: str, default: int | None, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be an integer, got {raw!r}") from None
    if not 0 <= value <= high:
        raise BadQuery(f"{name} must be between 0 and {high}, got {raw!r}")
    return value


async def ws_echo(request: web.Request) -> web.StreamResponse:
    """``GET /ws/echo``: echo every text and binary message (see the module docstring)."""
    counts = request.app[STREAMS]
    close_after = _count(request, "close_after", None, MAX_EVENTS)
    code = _count(request, "code", 1000, 4999)
    drop_after = _count(request, "drop_after", None, MAX_EVENTS)
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    counts.ws_connections += 1
    counts.ws_open += 1
    echoed = 0
    try:
        if close_after == 0:
            await ws.close(code=code or 1000)
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            counts.ws_received += 1
            if drop_after is not None and echoed >= drop_after:
                _drop(request)
                break
            await (ws.send_str(msg.data) if msg.type == WSMsgType.TEXT
                   else ws.send_bytes(msg.data))
            counts.ws_sent += 1
            echoed += 1
            if close_after is not None and echoed >= close_after:
                await ws.close(code=code or 1000)
                break
    finally:
        counts.ws_open -= 1
        counts.ws_closed += 1
    return ws


def _drop(request: web.Request) -> None:
    """Cut the connection under the response: no close frame, no end of the body."""
    if request.transport is not None:
        request.transport.abort()


async def sse(request: web.Request) -> web.StreamResponse:
    """``GET /sse?n=N&interval_ms=M``: N events (``id``, ``event: tick``, ``data``), M ms
    apart, then the end of the response."""
    counts = request.app[STREAMS]
    n = _count(request, "n", 10, MAX_EVENTS) or 0
    drop_after = _count(request, "drop_after", None, MAX_EVENTS)
    interval = _interval(request.query.get("interval_ms", "0"))
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache"})
    await resp.prepare(request)
    counts.sse_connections += 1
    counts.sse_open += 1
    try:
        for i in range(n):
            if drop_after is not None and i >= drop_after:
                _drop(request)
                return resp
            if i and interval:
                await sleep(interval)
            await resp.write(f"id: {i + 1}\nevent: tick\ndata: {i + 1}\n\n".encode())
            counts.sse_events += 1
        await resp.write_eof()
        counts.sse_completed += 1
    finally:
        counts.sse_open -= 1
    return resp


def _interval(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadQuery(f"interval_ms must be a number, got {raw!r}") from None
    if not (math.isfinite(value) and 0 <= value <= MAX_INTERVAL_MS):
        raise BadQuery(f"interval_ms must be between 0 and {MAX_INTERVAL_MS:g}, got {raw!r}")
    return value / 1000


def add_routes(app: web.Application) -> None:
    """Add ``/ws/echo`` and ``/sse`` to ``app`` and their counts (``app[STREAMS]``)."""
    app[STREAMS] = StreamCounts()
    app.router.add_get("/ws/echo", ws_echo)
    app.router.add_get("/sse", sse)


def stream_stats(app: web.Application) -> dict[str, Any]:
    """The ``ws`` and ``sse`` parts of ``/stats``."""
    return app[STREAMS].stats()


__all__ = ["MAX_EVENTS", "MAX_INTERVAL_MS", "STREAMS", "BadQuery", "StreamCounts", "add_routes",
           "sse", "stream_stats", "ws_echo"]
