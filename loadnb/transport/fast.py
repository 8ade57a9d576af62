"""The fast transport: keep-alive HTTP/1.1 on asyncio protocols, parsed by llhttp (httptools).

For plain target-URL tests: the request is serialised once per run, each response is parsed by a
real, well-kept parser, and no per-request task, timer or stream object is made. Timeouts are
enforced by one sweeper task per run. :meth:`FastTransport.drive` goes further for the closed
model: each connection writes the next request from the callback that completes the previous
response, so a user costs one task and one future per connection, not per request.
It does not follow redirects, speak HTTP/2, send HEAD, or use proxies: :func:`fast_supported`
says when the aiohttp transport must be used instead.

The parts: ``conn.py`` (one connection, :class:`~loadnb.transport.conn.Conn`), ``pool.py`` (the
first-come-first-served pool, shared with the aiohttp transport), ``sweeper.py`` (timeouts),
``wire.py`` (the bytes); this module opens, hands out, takes back and closes connections.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from urllib.parse import urlsplit

from .base import Arrivals, Driver, ErrorKind, Request, TransportOptions, classify_os_error
from .conn import CLOSED, IDLE, Conn, OneRequest
from .lane import Lane
from .pool import FifoPool
from .sweeper import expire_overdue
from .wire import IncompleteBody, InvalidResponse, ServerDisconnected, fast_supported, serialise

__all__ = ["FastTransport"]


class FastTransport(FifoPool[Conn]):
    """A pool of connections to one origin, with the limits and timeouts of its options.

    Connections are handed out first come, first served (:class:`FifoPool`); ``waiting`` counts
    the requests waiting for one.

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
        super().__init__(math.inf if options.pool_limit is None else options.pool_limit)
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
        self.timeout = options.timeout
        self.step = min(0.025, options.timeout / 20)  # between sweeps (sweeper.py)
        self.sweeps = 0
        self._keepalive = options.keepalive
        self.live: set[Conn] = set()  # every connection made and not yet lost, whatever its state
        self._sweeper: asyncio.Task[None] | None = None
        self._lane: Lane | None = None
        self.closing = False  # aclose() was called (read by the connections)

    async def send(self, request: Request) -> tuple[int, int]:
        """Send the run's request; return ``(status, body_bytes)`` when the body is complete."""
        one = OneRequest()
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
        self._sweep()
        timeout, failed, idle = self.timeout, False, self.idle
        while driver.next():
            if failed:  # a failure can come without any wait: let the loop breathe
                failed = False
                await asyncio.sleep(0)
            deadline, since = time.monotonic() + timeout, self.sweeps
            try:
                conn = idle.pop() if idle else await self._connection(loop, deadline)
                if conn.state is not IDLE or conn.transport is None or conn.transport.is_closing():
                    raise ServerDisconnected("connection closed before the request was sent")
            except Exception as exc:  # noqa: BLE001 - reported to the driver, as any failure
                driver.failed(exc)
                failed = True
                continue
            waiter: asyncio.Future[None] = loop.create_future()
            try:
                conn.start(driver, waiter, since)
                await waiter
            except BaseException:
                conn.fail(ConnectionAbortedError("request cancelled"))
                raise
            self.release(conn)

    def lane(self, arrivals: Arrivals) -> Lane:
        """The open model of the run as a :class:`~loadnb.transport.lane.Lane` (one per
        transport; it must be the pool's only user)."""
        if self._lane is None:
            self._sweep()
            self._lane = Lane(self, arrivals)
        return self._lane

    def _sweep(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(expire_overdue(self))

    def expire(self, overdue: int) -> None:
        """The sweeper's call: the open model's arrivals waiting since sweep ``overdue`` or
        before are past their timeout."""
        if self._lane is not None:
            self._lane.expire(overdue)

    async def open(self, deadline: float) -> Conn:
        """A new connection in the pool slot the caller holds (the slot is freed if it fails)."""
        return await self._open(asyncio.get_running_loop(), deadline)

    async def _connection(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Conn:
        """A connection from the pool, or a new one in a slot of the pool: the first of them
        free, waiting for it first come, first served."""
        conn = await self.acquire(deadline)
        return conn if conn is not None else await self._open(loop, deadline)

    async def _open(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Conn:
        """Open a connection in the pool slot the caller holds."""
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                lambda: Conn(self, self._payload, self._keepalive),
                self._host, self._port, ssl=self._ssl,
                server_hostname=self._host if self._ssl else None),
                max(0.0, deadline - time.monotonic()))
        except BaseException:  # (a connection lost inside, if any, was OPENING: not counted)
            self.release_slot()
            raise
        if conn.state is CLOSED:  # lost before it was handed over: its slot is still ours
            self.release_slot()
        else:
            conn.state = IDLE  # handed over: from now on its loss frees the slot
        return conn

    def release(self, item: Conn) -> None:
        """A chain is done with a connection: to the first waiter or idle if it can carry another
        request, else closed (its slot is freed once it is lost)."""
        transport = item.transport
        if (item.state is IDLE and not self.closing and transport is not None
                and not transport.is_closing()):
            item.idle_since = self.sweeps
            FifoPool.release(self, item)  # (not super(): this runs once per send())
        elif transport is not None:
            transport.close()

    # -- told by the connections (conn.Owner) ---------------------------------------------------
    def made(self, conn: Conn) -> None:
        self.live.add(conn)

    def lost(self, conn: Conn, counted: bool) -> None:
        """A connection closed: out of the pool, its slot to the first waiter (or free, or to
        the lane's waiting arrivals)."""
        self.live.discard(conn)
        if counted:
            self.forget(conn)
            self.release_slot()
            if self._lane is not None:
                self._lane.pump()

    def classify(self, exc: BaseException) -> str:
        """The :class:`ErrorKind` of an exception raised by :meth:`send`."""
        if isinstance(exc, InvalidResponse):
            return ErrorKind.INVALID
        if isinstance(exc, IncompleteBody):
            return ErrorKind.INCOMPLETE
        return classify_os_error(exc)

    async def aclose(self) -> None:
        """Close every connection and stop the sweeper."""
        self.closing = True
        if self._lane is not None:
            await self._lane.aclose()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for conn in list(self.live):
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()
        # Closing is asynchronous (TLS sends close_notify and waits for the peer's): wait until
        # every connection is gone, at most 1 s, then abort the rest, so no connection outlives
        # the run and the loop is never closed under one (uvloop: EBUSY, "Event loop is closed").
        for _ in range(100):
            if not self.live:
                return
            await asyncio.sleep(0.01)
        for conn in list(self.live):
            if conn.transport is not None:
                conn.transport.abort()
        for _ in range(10):  # abort() calls connection_lost on a following loop iteration
            if not self.live:
                break
            await asyncio.sleep(0)
