"""A scenario with both kinds of message stream, which several tests run against the demo
server (``/ws/echo`` and ``/sse``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


def echo_then_feed(events: int) -> Callable[[Any], Awaitable[None]]:
    """A scenario: one request–reply pair on a WebSocket named ``echo``, then an SSE stream
    named ``feed`` of ``events`` events, read to its end."""
    async def chat(user: Any) -> None:
        async with user.websocket("/ws/echo", name="echo") as ws:
            await ws.request("hello")
        async for _ in user.sse(f"/sse?n={events}", name="feed"):
            pass

    return chat


__all__ = ["echo_then_feed"]
