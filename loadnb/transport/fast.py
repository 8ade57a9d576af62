"""The fast transport: keep-alive HTTP/1.1 on asyncio protocols, parsed by llhttp (httptools).

For plain target-URL tests: the request is serialised once per run, each response is parsed by a
real, well-kept parser, and no per-request task, timer or stream object is made. Timeouts are
enforced by one sweeper task per run. :meth:`FastTransport.drive` goes further for the closed
model: each connection writes the next request from the callback that completes the previous
response, so a user costs one task and one future per connection, not per request.
It does not follow redirects, speak HTTP/2, send HEAD, or use proxies: :func:`fast_supported`
says when the aiohttp transport must be used instead.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections import deque
from typing import cast
from urllib.parse import urlsplit

import httptools

from .base import (
    Driver,
    ErrorKind,
    Request,
    TransportOptions,
    classify_os_error,
    no_free_connection,
)
from .wire import (
    MAX_FIELD_BYTES,
    MAX_HEAD_BYTES,
    IncompleteBody,
    InvalidResponse,
    ServerDisconnected,
    fast_supported,
    framed,
    scan_headers,
    serialise,
)

__all__ = ["FastTransport", "fast_supported"]

#: Seconds an unused pooled connection stays open (aiohttp's keepalive_timeout): users retired
#: live do not hold their connections, and the server's resources, for the rest of the run.
IDLE_TIMEOUT = 15.0


class _One:
    """The :class:`Driver` of a single request (:meth:`FastTransport.send`)."""

    __slots__ = ("left", "result", "error")

    def __init__(self) -> None:
        self.left = True
        self.result: tuple[int, int] | None = None
        self.error: BaseException | None = None

    def next(self) -> bool:
        go, self.left = self.left, False
        return go

    def done(self, status: int, nbytes: int, more: bool) -> bool:
        self.result = (status, nbytes)
        return False

    def failed(self, exc: BaseException) -> None:
        self.error = exc


class _Conn(asyncio.Protocol):
    """One keep-alive connection: an asyncio protocol feeding llhttp; one request at a time.

    While a chain runs on it (``waiter`` pending), each complete response goes to the chain's
    :class:`Driver` once the received chunk is parsed to its end, and the next request is written
    at once if the driver wants one. Bytes past the end of the response in the same chunk, or
    bytes while no request is out, were not asked for: the connection is not used again.
    """

    def __init__(self, owner: FastTransport) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.driver: Driver = _One()
        self.waiter: asyncio.Future[None] | None = None
        self.deadline = 0.0
        self.idle_until = 0.0
        self.nbytes = 0
        self.head_bytes = 0
        self.head: list[bytes] = []
        self.headers_done = False
        self.status = -1  # the status of a response complete in the chunk being parsed
        self.spare = False  # bytes after the end of a response: the connection is not reused
        self.reusable = True  # the last response allows keep-alive
        self.keep = True
        self.closed = False
        self.pooled = False  # counted in the pool's _opened (set once the connection is open)

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.owner._live.add(self)

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # no request out: nobody asked for these
            self.drop()
            return
        if not self.headers_done:
            self.head.append(data)
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if self.status >= 0:  # a whole response, then bytes that are none
                self.spare = True
                self.finish()
            else:
                self.fail(InvalidResponse(f"invalid HTTP response: {exc!r}"))
            return
        if self.status >= 0:
            self.finish()
        elif not self.headers_done and self.head_bytes > MAX_HEAD_BYTES:
            self.fail(InvalidResponse(
                f"invalid HTTP response: head longer than {MAX_HEAD_BYTES} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.owner._live.discard(self)
        self.owner._forget(self)
        if self.waiter is None or self.waiter.done():
            return
        if self.headers_done and not framed(self.head):  # a body delimited by the close
            self.on_message_complete()
            self.finish()
        elif self.headers_done and exc is not None:  # a RST (socket error) mid-body
            self.fail(exc)
        elif self.headers_done:
            self.fail(IncompleteBody(f"connection closed after {self.nbytes} body bytes"))
        else:
            self.fail(ServerDisconnected(f"connection closed before a response: {exc or 'EOF'}"))

    # -- llhttp callbacks (no on_header: a Python call per header costs ~15 % of the fast path;
    # the head is kept and scanned again only on the rare paths that need a header) --------
    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.head_bytes > MAX_FIELD_BYTES and max(  # a long head (rare): check each field
                (len(k) + len(v) + 2 for k, v in scan_headers(self.head)), default=0
        ) > MAX_FIELD_BYTES:
            self.fail(InvalidResponse(
                f"invalid HTTP response: header line longer than {MAX_FIELD_BYTES} bytes"))

    def on_body(self, body: bytes) -> None:
        self.nbytes += len(body)

    def on_message_begin(self) -> None:
        if self.status >= 0:  # a second message in one chunk: not an answer to anything sent
            self.spare = True

    def on_message_complete(self) -> None:
        if self.spare:
            return
        parser = self.parser
        status = parser.get_status_code()
        if 100 <= status < 200:  # interim (100, 103): the response follows (its head is kept)
            self.nbytes = 0
            self.headers_done = False
            return
        self.status = status
        self.reusable = parser.should_keep_alive()  # what the response says; finish() decides

    def finish(self) -> None:
        """The response is complete: report it, then send the next request if the chain wants
        one and this connection can carry it (kept alive, nobody else waiting for the pool)."""
        status, self.status = self.status, -1
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        owner = self.owner
        self.keep = keep = (owner._keepalive and self.reusable and not self.spare
                            and not self.closed)
        try:
            again = self.driver.done(status, self.nbytes,
                                     keep and not owner._closing and not owner._waiters)
        except BaseException as exc:  # a bug in the driver: raise it in the chain's task
            self.waiter, self.keep = None, False
            waiter.set_exception(exc)
            return
        if again:
            self.write(time.monotonic() + owner._timeout)
        else:
            self.waiter = None
            waiter.set_result(None)

    # -- use -----------------------------------------------------------------------------------
    def start(self, driver: Driver, waiter: asyncio.Future[None], deadline: float) -> None:
        """Run a chain: send the request ``driver`` has just started, and the ones it asks for."""
        self.driver, self.waiter = driver, waiter
        self.write(deadline)

    def write(self, deadline: float) -> None:
        """Send the run's request, to be answered by ``deadline`` (``time.monotonic``)."""
        self.deadline = deadline
        self.nbytes = self.head_bytes = 0
        self.headers_done = False
        self.head.clear()
        assert self.transport is not None
        try:
            self.transport.write(self.owner._payload)
        except Exception as exc:  # noqa: BLE001 - e.g. a transport closed under us: a failure
            self.fail(exc)

    def drop(self) -> None:
        """Bytes came while no request was out: take the connection out of the pool, close it."""
        self.keep = False
        try:
            self.owner._idle.remove(self)
        except ValueError:
            pass
        if self.transport is not None:
            self.transport.abort()

    def fail(self, exc: BaseException) -> None:
        """End the current request with ``exc`` (unless its chain was cancelled), drop the
        connection."""
        self.keep = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            self.driver.failed(exc)
            waiter.set_result(None)
        if self.transport is not None:
            self.transport.abort()


class FastTransport:
    """A pool of :class:`_Conn` to one origin, with the limits and timeouts of its options.

    Example::

        options = TransportOptions("http://127.0.0.1:8000/")
        transport = FastTransport(options)
        status, nbytes = await transport.send(Request.of(options))
    """

    name = "fast"

    def __init__(self, options: TransportOptions) -> None:
        reason = fast_supported(options)
        if reason is not None:
            raise ValueError(f"the fast transport cannot run this test: {reason}")
        parts = urlsplit(options.url)
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl.create_default_context()
            if options.insecure:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        self._payload = serialise(options)
        self._timeout = options.timeout
        self._keepalive = options.keepalive
        self._limit = math.inf if options.pool_limit is None else options.pool_limit
        self._idle: deque[_Conn] = deque()
        self._busy: set[_Conn] = set()
        self._live: set[_Conn] = set()  # every connection not yet lost, whatever its state
        self._opened = 0
        self._reserved = 0  # free slots kept for waiters that were woken and have not run yet
        self._waiters: deque[asyncio.Future[_Conn | None]] = deque()
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        self.waiting = 0

    async def send(self, request: Request) -> tuple[int, int]:
        """Send the run's request; return ``(status, body_bytes)`` when the body is complete."""
        one = _One()
        await self.drive(one)
        if one.error is not None:
            raise one.error
        assert one.result is not None
        return one.result

    async def drive(self, driver: Driver) -> None:
        """Send the run's request for as long as ``driver.next()`` says so, reporting each end
        to ``driver``; on a kept-alive connection the next request leaves from the callback that
        completed the last response. Returns once ``driver.next()`` answers False. Cancelling it
        leaves the request in flight unreported (the recorder settles it as cancelled)."""
        loop = asyncio.get_running_loop()
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep())
        timeout, failed = self._timeout, False
        while driver.next():
            if failed:  # a failure can come without any wait: let the loop breathe
                failed = False
                await asyncio.sleep(0)
            deadline = time.monotonic() + timeout
            try:
                conn = self._idle.pop() if self._idle else await self._acquire(loop, deadline)
                if conn.closed or conn.transport is None or conn.transport.is_closing():
                    raise ServerDisconnected("connection closed before the request was sent")
            except Exception as exc:  # noqa: BLE001 - reported to the driver, as any failure
                driver.failed(exc)
                failed = True
                continue
            waiter: asyncio.Future[None] = loop.create_future()
            self._busy.add(conn)
            try:
                conn.start(driver, waiter, deadline)
                await waiter
            except BaseException:
                conn.fail(ConnectionAbortedError("request cancelled"))
                raise
            finally:
                self._busy.discard(conn)
            self._release(conn)

    async def _acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Conn:
        while True:
            if self._idle:
                return self._idle.pop()
            if self._opened + self._reserved < self._limit:
                return await self._open(loop, deadline)
            fut: asyncio.Future[_Conn | None] = loop.create_future()
            self._waiters.append(fut)
            self.waiting += 1
            timer = loop.call_later(max(0.0, deadline - time.monotonic()),
                                    no_free_connection, fut)
            try:
                conn = await fut
            except asyncio.CancelledError:
                # Cancelled after a connection (or a free slot) was handed to us: pass it on.
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    handed = fut.result()
                    if handed is not None:
                        self._release(handed)
                    else:
                        self._reserved -= 1
                        self._pass_slot()
                raise
            finally:
                timer.cancel()
                self.waiting -= 1
            if conn is not None:
                return conn
            self._reserved -= 1  # a slot was kept for us: nobody who came later can take it
            return await self._open(loop, deadline)

    async def _open(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Conn:
        self._opened += 1
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                lambda: _Conn(self), self._host, self._port, ssl=self._ssl,
                server_hostname=self._host if self._ssl else None),
                max(0.0, deadline - time.monotonic()))
        except BaseException:  # (a connection lost inside, if any, never counted: not pooled)
            self._opened -= 1
            self._pass_slot()
            raise
        conn.pooled = True
        if conn.closed:  # lost before it was handed over: free its slot now
            self._forget(conn)
        return conn

    def _release(self, conn: _Conn) -> None:
        if (conn.keep and not conn.closed and not self._closing and conn.transport is not None
                and not conn.transport.is_closing()):
            while self._waiters:
                fut = self._waiters.popleft()
                if not fut.done():
                    fut.set_result(conn)
                    return
            conn.idle_until = time.monotonic() + IDLE_TIMEOUT
            self._idle.append(conn)
        elif conn.transport is not None:
            conn.transport.close()

    def _pass_slot(self) -> None:
        """A slot came free: keep it for the first live waiter (who opens a connection in it),
        so a task that asks later cannot take it first; with nobody waiting it is simply free."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                self._reserved += 1
                fut.set_result(None)
                return

    def _forget(self, conn: _Conn) -> None:
        """A connection closed: free its slot (idle ones simply leave the pool)."""
        if not conn.pooled:
            return
        conn.pooled = False
        self._opened -= 1
        try:
            self._idle.remove(conn)
        except ValueError:
            pass
        self._pass_slot()

    async def _sweep(self) -> None:
        """Fail requests past their deadline and close connections idle for
        :data:`IDLE_TIMEOUT` (one task per run instead of a timer per request)."""
        step = min(0.05, self._timeout / 10)
        idle = self._idle  # most recently used on the right: the oldest expire first
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            for conn in [c for c in self._busy if c.deadline <= now]:
                conn.fail(TimeoutError(f"no complete response within {self._timeout:g}s"))
            while idle and idle[0].idle_until <= now:
                expired = idle.popleft()  # out of the pool first: never handed out while closing
                if expired.transport is not None:
                    expired.transport.close()

    def classify(self, exc: BaseException) -> str:
        """The :class:`ErrorKind` of an exception raised by :meth:`send`."""
        if isinstance(exc, InvalidResponse):
            return ErrorKind.INVALID
        if isinstance(exc, IncompleteBody):
            return ErrorKind.INCOMPLETE
        return classify_os_error(exc)

    async def aclose(self) -> None:
        """Close every connection and stop the sweeper."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for conn in list(self._live):
            if conn.transport is not None:
                conn.transport.close()
        self._idle.clear()
        self._pass_slot()
        # Closing is asynchronous (TLS sends close_notify and waits for the peer's): wait until
        # every connection is gone, at most 1 s, then abort the rest, so no connection outlives
        # the run and the loop is never closed under one (uvloop: EBUSY, "Event loop is closed").
        for _ in range(100):
            if not self._live:
                return
            await asyncio.sleep(0.01)
        for conn in list(self._live):
            if conn.transport is not None:
                conn.transport.abort()
        for _ in range(10):  # abort() calls connection_lost on a following loop iteration
            if not self._live:
                break
            await asyncio.sleep(0)
