"""The HTTP/2 transport: the run's request multiplexed on N connections x M streams.

For plain target-URL tests (``TransportOptions.http2``). With ``https://`` it offers h2 and
http/1.1 by ALPN and speaks HTTP/2 when the server picks h2; when the server does not offer h2 it
falls back to HTTP/1.1 (the fast transport, with the same TLS and connection controls) and says
so (:attr:`H2Transport.protocol`, :attr:`H2Transport.warnings`). With ``http://`` it speaks h2c
with prior knowledge.

Connections: at most ``pool_limit`` (default :data:`MAX_CONNECTIONS`), opened as callers need
them, each carrying up to ``streams`` concurrent streams (fewer when the server's
SETTINGS_MAX_CONCURRENT_STREAMS says so): a closed-model run of U users opens
ceil(U / streams) connections, at most the cap. A caller holds a *turn* on a connection (a
claim) while its request is out; a chain keeps its turn for its next request as long as nobody
waits and the connection takes new streams. Callers that find no turn wait first come, first
served, and the wait counts toward the request's timeout. A connection that stops taking streams
(GOAWAY, stream ids used up, no keep-alive) is replaced by a new one for the callers that need
it: its requests already refused fail (``GOAWAY <code>``), they are never retried.

:meth:`H2Transport.drive` runs a closed-model chain from the connection's callbacks (the next
request leaves in the write that follows the read completing the previous one);
:meth:`H2Transport.send` is one request (the open model). Connect and TLS-handshake times of
every connection: :meth:`H2Transport.take_timings`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .base import Driver, Request, TransportOptions, classify_os_error, no_free_connection
from .h1 import RoutedFastTransport
from .h2conn import H2Conn
from .h2streams import Chain, Streams
from .h2wire import (
    MAX_STREAM_ID,
    GoAway,
    ProtocolError,
    StreamReset,
    Transitions,
    encode_stateless,
    fallback_warning,
    request_headers,
)
from .tls import Connector, ConnectTiming

__all__ = ["MAX_CONNECTIONS", "H2Transport", "h2_supported"]

#: Connections opened at most when ``connections`` is not given.
MAX_CONNECTIONS = 64
#: Seconds a connection nobody holds a turn on stays open.
IDLE_TIMEOUT = 15.0


def h2_supported(options: TransportOptions) -> str | None:
    """None when the HTTP/2 transport can run ``options``; otherwise the reason it cannot."""
    if not options.plain:
        return "a scenario's requests go through H2ScenarioTransport (transport/h2scenario.py)"
    if options.follow_redirects:
        return "redirects are followed"
    if options.streams < 1:
        return f"streams must be at least 1, got {options.streams}"
    if not options.url.startswith(("http://", "https://")):
        return "the URL must be http:// (h2c) or https:// (h2)"
    return None


class _OneShot:
    """The :class:`Driver` of a single request (:meth:`H2Transport.send`)."""

    __slots__ = ("left", "result", "error", "evidence")

    def __init__(self) -> None:
        self.left = True
        self.evidence = ""
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


class _Resumed:
    """A driver whose request is already started: its first :meth:`next` is True without asking
    (the chain goes on over HTTP/1.1 after the fall-back)."""

    __slots__ = ("driver", "first")

    def __init__(self, driver: Driver) -> None:
        self.driver, self.first = driver, True

    def __getattr__(self, name: str) -> Any:  # evidence, set by the connection
        return getattr(self.driver, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _Resumed.__slots__:
            object.__setattr__(self, name, value)
        else:
            setattr(self.driver, name, value)

    def next(self) -> bool:
        if self.first:
            self.first = False
            return True
        return self.driver.next()

    def done(self, status: int, nbytes: int, more: bool) -> bool:
        return self.driver.done(status, nbytes, more)

    def failed(self, exc: BaseException) -> None:
        self.driver.failed(exc)


class _FellBack(Exception):
    """The server does not speak HTTP/2: go on with the HTTP/1.1 fall-back."""


class H2Transport:
    """HTTP/2 (h2 or h2c) to one origin, for target-URL tests.

    ``protocol`` is None until the first connection is up, then ``h2``, ``h2c`` or ``http/1.1``
    (fallen back); ``warnings`` holds the fall-back's warning. Example::

        options = TransportOptions("https://127.0.0.1:8443/", http2=True, insecure=True)
        transport = H2Transport(options)
        status, nbytes = await transport.send(Request.of(options))
    """

    name = "h2"
    #: the connections it opens (a subclass may keep more of each response)
    conn_class: type[H2Conn] = H2Conn

    def __init__(self, options: TransportOptions, *, max_stream_id: int = MAX_STREAM_ID) -> None:
        reason = h2_supported(options)
        if reason is not None:
            raise ValueError(f"HTTP/2 cannot run this test: {reason}")
        self.options = options
        self.connector = Connector(options, alpn=("h2", "http/1.1"), cleartext="h2c")
        self.block = encode_stateless(request_headers(options))
        self.body = options.body or b""
        self.cap = options.pool_limit or MAX_CONNECTIONS
        self.timeout, self.max_stream_id = options.timeout, max_stream_id
        self.conns: list[H2Conn] = []  # taking new streams (opening or open), oldest first
        self.live: set[H2Conn] = set()  # connected and not yet lost
        self.waiters: deque[asyncio.Future[H2Conn]] = deque()
        self.waiting = 0
        self.closing = False
        self.protocol: str | None = None
        self.warnings: list[str] = []
        self.samples: dict[int, str] = {}
        self.transitions: Transitions = {}  # HPACK table transitions, shared by the connections
        self.fallback: RoutedFastTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # -- sending -------------------------------------------------------------------------------
    async def send(self, request: Request) -> tuple[int, int]:
        """Send the run's request; return ``(status, body_bytes)`` once its body is in."""
        one = _OneShot()
        await self.drive(one)
        if one.error is not None:
            raise one.error
        assert one.result is not None
        if one.evidence:  # a failing status: the open model reads its evidence here
            self.samples.setdefault(one.result[0], one.evidence)
        return one.result

    async def drive(self, driver: Driver) -> None:
        """Send the run's request for as long as ``driver.next()`` says so, reporting each end to
        ``driver``. Cancelling it resets the stream in flight, left unreported (the recorder
        settles it as cancelled)."""
        if self.fallback is not None:
            return await self.fallback.drive(driver)
        await self.run_chain(driver, self.block, self.body)

    async def run_chain(self, driver: Driver, block: bytes, body: bytes) -> None:
        """:meth:`drive` with the request ``block`` (HPACK header block) and ``body``."""
        loop = asyncio.get_running_loop()
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep())
        moved, deadline = False, 0.0
        while moved or driver.next():
            if not moved:
                deadline = time.monotonic() + self.timeout
            try:
                conn = await self._acquire(deadline)
            except _FellBack:
                return await self.resume(driver)
            except Exception as exc:  # noqa: BLE001 - reported to the driver, as any failure
                moved = False
                driver.failed(exc)
                await asyncio.sleep(0)  # a failure can come without any wait
                continue
            waiter: asyncio.Future[bool] = loop.create_future()
            chain = Chain(driver, waiter, deadline, block, body)
            try:
                conn.begin(chain)
                moved = await waiter
            except BaseException:
                conn.abandon(chain)
                raise
            finally:
                self._release(conn)

    async def resume(self, driver: Driver) -> None:
        """Go on with ``driver``, its request already started, after the fall-back."""
        assert self.fallback is not None
        return await self.fallback.drive(_Resumed(driver))

    # -- turns on connections ------------------------------------------------------------------
    async def _acquire(self, deadline: float) -> H2Conn:
        """A turn on a connection that is up: one with room, a new one, or the first handed
        back while waiting. Raises the connect error, TimeoutError, or :class:`_FellBack`."""
        conn = self._claim()
        if conn is None:
            conn = await self._wait(deadline)
        if conn.ready.done() and conn.ready.exception() is None and not conn.draining:
            return conn  # the hot path
        try:
            protocol = await asyncio.shield(conn.ready)
        except BaseException:
            self._release(conn)
            raise
        if protocol not in ("h2", "h2c"):
            self._release(conn)
            self._fall_back(protocol)
            raise _FellBack(protocol)
        return conn

    def _claim(self) -> H2Conn | None:
        for conn in self.conns:
            if conn.claims < conn.limit:
                conn.claims += 1
                return conn
        if len(self.conns) < self.cap and not self.closing:
            conn = self._open()
            conn.claims = 1
            return conn
        return None

    async def _wait(self, deadline: float) -> H2Conn:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[H2Conn] = loop.create_future()
        self.waiters.append(fut)
        self.waiting += 1
        timer = loop.call_later(max(0.0, deadline - time.monotonic()), no_free_connection, fut)
        try:
            return await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._release(fut.result())  # handed a turn just as it gave up: pass it on
            raise
        finally:
            timer.cancel()
            self.waiting -= 1

    def _release(self, conn: H2Conn) -> None:
        conn.claims -= 1
        if conn.claims == 0:
            conn.idle_since = time.monotonic()
        if self.waiters:
            self._grant()

    def _grant(self) -> None:
        """Hand turns to the waiters, first come first served, while there are any."""
        waiters = self.waiters
        while waiters:
            fut = waiters.popleft()
            if fut.done():  # gave up
                continue
            conn = self._claim()
            if conn is None:
                waiters.appendleft(fut)
                return
            fut.set_result(conn)

    # -- connections ---------------------------------------------------------------------------
    def _open(self) -> H2Conn:
        """A new connection, taking turns at once; connected by a task of its own."""
        keepalive = self.options.keepalive
        conn = self.conn_class(self, want=self.options.streams if keepalive else 1,
                      timeout=self.timeout, keepalive=keepalive,
                      max_stream_id=self.max_stream_id, transitions=self.transitions)
        self.conns.append(conn)
        task = asyncio.get_running_loop().create_task(self._connect(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return conn

    async def _connect(self, conn: H2Conn) -> None:
        try:
            transport, _, timing = await self.connector.connect(lambda: conn, self.timeout)
        except BaseException as exc:
            self._forget(conn)
            if not conn.ready.done():
                conn.ready.set_exception(exc if isinstance(exc, Exception) else
                                         ConnectionAbortedError("the transport was closed"))
                conn.ready.exception()  # retrieved: nobody may be waiting for it any more
            if not isinstance(exc, Exception):
                raise
            return
        self.live.add(conn)
        if self.protocol is None:
            self.protocol = timing.protocol
        if timing.protocol not in ("h2", "h2c"):
            self._fall_back(timing.protocol)
            transport.close()

    def _fall_back(self, protocol: str) -> None:
        if self.fallback is None:
            self.fallback = RoutedFastTransport(replace(self.options, http2=False))
            self.warnings.append(fallback_warning(protocol))

    def _forget(self, conn: H2Conn) -> None:
        """``conn`` takes no new turns: callers waiting may get a new connection instead."""
        try:
            self.conns.remove(conn)
        except ValueError:
            return
        if self.waiters:
            self._grant()

    def retire(self, conn: Streams) -> None:
        assert isinstance(conn, H2Conn)
        self._forget(conn)

    def lost(self, conn: Streams) -> None:
        assert isinstance(conn, H2Conn)
        self.live.discard(conn)
        self._forget(conn)

    def take_timings(self) -> list[ConnectTiming]:
        """Connect and TLS-handshake times of the connections opened since the last call."""
        new = self.connector.take_timings()
        if self.fallback is not None:
            new += self.fallback.connector.take_timings()
        return new

    async def _sweep(self) -> None:
        """Fail the requests past their deadline; close connections idle for IDLE_TIMEOUT."""
        step = min(0.05, self.timeout / 10)
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            for conn in list(self.live):
                conn.expire(now)
                if (conn.claims == 0 and not conn.streams
                        and conn.idle_since < now - IDLE_TIMEOUT):
                    conn.retire()
                    conn.close()

    # -- the rest of the Transport protocol ----------------------------------------------------
    def classify(self, exc: BaseException) -> str:
        """The error kind of an exception raised by :meth:`send`."""
        if isinstance(exc, StreamReset | GoAway | ProtocolError):
            return exc.kind
        if self.fallback is not None:
            return self.fallback.classify(exc)
        return classify_os_error(exc)

    async def aclose(self) -> None:
        """Close every connection (GOAWAY, then close; abort what is still open after 1 s)."""
        self.closing = True
        tasks: list[asyncio.Task[Any]] = [*self._tasks]
        if self._sweeper is not None:
            tasks.append(self._sweeper)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _close_all(self.live, lambda conn: conn.close())
        if self.fallback is not None:
            await self.fallback.aclose()


async def _close_all(live: set[H2Conn], close: Callable[[H2Conn], None]) -> None:
    for conn in list(live):
        close(conn)
    for _ in range(100):  # TLS close waits for the peer's close_notify: at most 1 s
        if not live:
            return
        await asyncio.sleep(0.01)
    for conn in list(live):
        if conn.transport is not None:
            conn.transport.abort()
    for _ in range(10):  # abort() calls connection_lost on a following loop iteration
        if not live:
            return
        await asyncio.sleep(0)
