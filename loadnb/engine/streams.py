"""A scenario's message streams: WebSocket (``user.websocket``) and server-sent events
(``user.sse``), recorded per name on the run's :class:`~loadnb.metrics.messages.MessageBook`.

Every connection is counted opened or failed, then closed once however it ended: a WebSocket
close frame's code is counted (1000 and 1001 are clean; any other is also an error ``WS close
<code>``); a connection lost without a close frame, or an event stream cut mid-response, is an
error ``dropped``. A failed connect raises :class:`StreamError` in the scenario (the iteration
fails, the run goes on); so does a receive on a closed WebSocket (:class:`StreamClosed`).
``first_message`` times each connection from the start of its connect to its first message;
``ws.request(msg)`` times the send to the next message (``reply``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Protocol

import aiohttp

from ..metrics.messages import MessageAccumulator
from .sse import Event, EventParser

#: WebSocket close codes of a clean close (normal, going away).
CLEAN_CODES = (1000, 1001)
#: Bytes read from an event stream at a time.
CHUNK = 65536


class StreamError(Exception):
    """A message stream failed (``kind``: how, as counted)."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind


class StreamClosed(StreamError):
    """A receive on a WebSocket that has closed (``code``: its close code, if any)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed ({code})" if code is not None else "closed")
        self.code = code


class StreamContext(Protocol):
    """What a stream needs of the run (implemented by the scenario's work)."""

    def ws_connect(self, url: str, **kwargs: Any) -> Any:
        """``session.ws_connect(...)`` on the run's session."""
        ...

    def classify(self, exc: BaseException) -> str: ...

    def clock(self) -> float: ...


def _fail(acc: MessageAccumulator, ctx: StreamContext, exc: BaseException) -> StreamError:
    """Count a connect that failed; the error the scenario gets."""
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        kind = f"HTTP {exc.status}"
    else:
        kind = ctx.classify(exc)
    acc.fail(kind, f"{type(exc).__name__}: {exc}")
    return StreamError(kind, str(exc))


class WebSocket:
    """``async with user.websocket(url, name=...) as ws:`` — ``send``, ``receive``, ``request``,
    ``close`` and ``async for message in ws`` (until it closes)."""

    def __init__(self, ctx: StreamContext, acc: MessageAccumulator, url: str,
                 headers: Mapping[str, str], timeout: float | None) -> None:
        self._ctx, self._acc, self._url = ctx, acc, url
        self._headers, self._timeout = dict(headers), timeout
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._start = 0.0
        self._first = True
        self._ended = False
        self.close_code: int | None = None

    async def __aenter__(self) -> WebSocket:
        self._start = self._ctx.clock()
        try:
            self._ws = await self._ctx.ws_connect(self._url, headers=self._headers,
                                                  autoclose=True, autoping=True)
        except Exception as exc:  # noqa: BLE001 - counted, then told to the scenario
            raise _fail(self._acc, self._ctx, exc) from exc
        self._acc.open()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._ended

    async def send(self, message: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message."""
        ws = self._open()
        data = message.encode() if isinstance(message, str) else message
        try:
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)
        except (ConnectionError, aiohttp.ClientError) as exc:
            self._ended = True
            self._acc.close(None, "dropped", f"{type(exc).__name__}: {exc}")
            raise StreamClosed(None) from exc
        self._acc.sent += 1
        self._acc.bytes_sent += len(data)

    async def receive(self, timeout: float | None = None) -> str | bytes:
        """The next text or binary message; :class:`StreamClosed` once the connection has
        closed (counted), ``TimeoutError`` after ``timeout`` seconds (or the stream's)."""
        ws = self._open()
        try:
            msg = await ws.receive(timeout=timeout or self._timeout)
        except asyncio.TimeoutError:
            self._acc.error("timeout", f"no message within {timeout or self._timeout} s")
            raise
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            data: str | bytes = msg.data
            self._acc.received += 1
            self._acc.bytes_received += len(data.encode() if isinstance(data, str) else data)
            if self._first:
                self._first = False
                self._acc.first_message.append(self._ctx.clock() - self._start)
            return data
        self._ended_by(msg)
        raise StreamClosed(self.close_code)

    async def request(self, message: str | bytes, timeout: float | None = None) -> str | bytes:
        """Send ``message`` and return the next message; the time between is recorded as the
        stream's request–reply latency."""
        sent = self._ctx.clock()
        await self.send(message)
        reply = await self.receive(timeout)
        self._acc.reply.append(self._ctx.clock() - sent)
        return reply

    async def close(self, code: int = 1000) -> None:
        """Close the connection (with ``code``); nothing when it has ended."""
        if self._ended or self._ws is None:
            return
        self._ended = True
        await self._ws.close(code=code)
        self.close_code = code
        self._acc.close(code)

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str | bytes]:
        while not self._ended:
            try:
                yield await self.receive()
            except StreamClosed:
                return

    def _open(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None:
            raise StreamError("not connected", "use it as `async with user.websocket(...) as ws`")
        if self._ended:
            raise StreamClosed(self.close_code)
        return self._ws

    def _ended_by(self, msg: aiohttp.WSMessage) -> None:
        """The server closed (a close frame: its code) or the connection was lost (dropped)."""
        self._ended = True
        ws = self._ws
        if msg.type == aiohttp.WSMsgType.CLOSE:
            code = int(msg.data)
            self.close_code = code
            error = None if code in CLEAN_CODES else f"WS close {code}"
            self._acc.close(code, error, f"WS close {code} {msg.extra or ''}".rstrip())
        else:
            reason = repr(msg.data) if msg.type == aiohttp.WSMsgType.ERROR else "no close frame"
            self.close_code = ws.close_code if ws is not None else None
            self._acc.close(None, "dropped", f"connection lost: {reason}")


async def event_stream(ctx: StreamContext, open_: Callable[..., Any],
                       acc: MessageAccumulator, url: str, headers: Mapping[str, str],
                       timeout: float | None) -> AsyncIterator[Event]:
    """The events of the ``text/event-stream`` at ``url`` (see :func:`user.sse`)."""
    start = ctx.clock()
    sent = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **headers}
    opened = False
    try:
        async with open_("GET", url, headers=sent,
                         timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout)) as resp:
            if resp.status != 200:
                acc.fail(f"HTTP {resp.status}", f"HTTP {resp.status} {resp.reason or ''}")
                raise StreamError(f"HTTP {resp.status}")
            acc.open()
            opened = True
            async for event in _events(ctx, acc, resp, start):
                yield event
    except StreamError:
        raise
    except Exception as exc:  # noqa: BLE001 - counted, then told to the scenario
        if not opened:
            raise _fail(acc, ctx, exc) from exc
        acc.close(None, "dropped", f"{type(exc).__name__}: {exc}")
        opened = False
        raise StreamError("dropped", str(exc)) from exc
    finally:
        if opened:
            acc.close()


async def _events(ctx: StreamContext, acc: MessageAccumulator, resp: aiohttp.ClientResponse,
                  start: float) -> AsyncIterator[Event]:
    parser = EventParser()
    first = True
    while chunk := await resp.content.readany():
        acc.bytes_received += len(chunk)
        for event in parser.feed(chunk):
            acc.received += 1
            if first:
                first = False
                acc.first_message.append(ctx.clock() - start)
            yield event


__all__ = ["CLEAN_CODES", "StreamClosed", "StreamContext", "StreamError", "WebSocket",
           "event_stream"]
