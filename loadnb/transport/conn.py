"""One connection of the fast transport: an asyncio protocol feeding llhttp (httptools).

A connection carries one request at a time. While a chain runs on it (``waiter`` pending), each
complete response goes to the chain's :class:`Driver` once the received chunk is parsed to its
end, and the next request is written at once if the driver wants one. Bytes past the end of the
response in the same chunk, or bytes while no request is out, were not asked for: the connection
is not used again. Its life is one :class:`ConnState`::

    OPENING -> IDLE -> HEAD -> BODY -> IDLE (kept alive: the next request, or back to the pool)
                        ^-- 1xx --'
    (any) -> RETIRED (carries no further request; closing) -> CLOSED (lost: from any state)
"""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Any, Final, Protocol, cast

import httptools

from .base import Driver
from .wire import (
    MAX_FIELD_BYTES,
    MAX_HEAD_BYTES,
    IncompleteBody,
    InvalidResponse,
    ServerDisconnected,
    framed,
    scan_headers,
)

__all__ = ["BODY", "CLOSED", "HEAD", "IDLE", "OPENING", "RETIRED", "Conn", "ConnState",
           "OneRequest", "Owner"]


class ConnState(enum.Enum):
    """Where a connection is in its life."""

    #: Being connected. Its pool slot is still its opener's, who frees it if the connection is
    #: lost (or given up) before it is handed over; from then on the connection's loss frees it.
    OPENING = "opening"
    #: Open, no request out: idle in the pool, or a response complete and the connection kept.
    IDLE = "idle"
    #: A request is out; its response head is being read (kept for the rare header checks).
    HEAD = "head"
    #: The head is in; the body is being read.
    BODY = "body"
    #: Carries no further request (a failure, bytes nobody asked for, a response or a run that
    #: ends keep-alive); its transport is closed or about to be.
    RETIRED = "retired"
    #: The connection is lost (its slot freed).
    CLOSED = "closed"


# The members as module globals: the hot path compares with these. On Python 3.11 reading
# ``ConnState.HEAD`` costs ~80 ns (an Enum class attribute), a global ~15 ns, as a bool attribute.
OPENING: Final = ConnState.OPENING
IDLE: Final = ConnState.IDLE
HEAD: Final = ConnState.HEAD
BODY: Final = ConnState.BODY
RETIRED: Final = ConnState.RETIRED
CLOSED: Final = ConnState.CLOSED


class Owner(Protocol):
    """What a connection reads of the pool that opened it (the fast transport), and tells it."""

    closing: bool  # the pool is closing: no further request is chained
    waiting: int  # callers waiting for a connection: a chain hands its connection over

    def made(self, conn: Conn) -> None: ...

    def lost(self, conn: Conn, counted: bool) -> None:
        """``conn`` is lost; ``counted``: it held its own pool slot (it was handed over)."""

    def forget(self, item: Conn) -> bool: ...


class OneRequest:
    """The :class:`Driver` of a single request (``FastTransport.send``)."""

    __slots__ = ("left", "result", "error", "evidence")

    def __init__(self) -> None:
        self.left = True
        self.evidence = ""  # a failing response's status line and first body bytes
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


#: Bytes of a failing response's body kept as its error sample.
SAMPLE_BYTES = 200


def _head_evidence(head: list[bytes]) -> str:
    """The status line and the first body bytes in the head chunks of a response (its first
    chunk usually holds the start of the body too)."""
    data = b"".join(head)[:MAX_HEAD_BYTES]
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2][:SAMPLE_BYTES]
    return (status_line.decode("latin-1") + "\n" + body.decode("utf-8", "replace")).rstrip("\n")


class Conn(asyncio.Protocol):
    """One keep-alive connection that sends ``payload`` (the run's request) on demand."""

    __slots__ = ("owner", "payload", "timeout", "keepalive", "transport", "parser", "state",
                 "driver", "waiter", "deadline", "idle_since", "nbytes", "head_bytes", "head",
                 "status")

    def __init__(self, owner: Owner, payload: bytes, timeout: float, keepalive: bool) -> None:
        self.owner = owner
        self.payload, self.timeout, self.keepalive = payload, timeout, keepalive
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.state = OPENING
        self.driver: Driver = OneRequest()
        self.waiter: asyncio.Future[None] | None = None  # pending while a chain runs on it
        self.deadline = 0.0  # when the request out must be answered by (time.monotonic)
        self.idle_since = 0.0  # when it was last given back to the pool
        self.nbytes = 0
        self.head_bytes = 0
        self.head: list[bytes] = []
        # A fact about the chunk being parsed, not a state: the status of a whole response in it,
        # reported once the chunk is parsed to its end (-1: none). The connection may already be
        # RETIRED then (the response ends keep-alive, or bytes follow it), and it is still reported.
        self.status = -1

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.owner.made(self)

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # no request out: nobody asked for these
            self.drop()
            return
        if self.state is HEAD:
            self.head.append(data)
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if self.status >= 0:  # a whole response, then bytes that are none
                self.state = RETIRED
                self.finish()
            else:
                self.fail(InvalidResponse(f"invalid HTTP response: {exc!r}"))
            return
        if self.status >= 0:
            self.finish()
        elif self.state is HEAD and self.head_bytes > MAX_HEAD_BYTES:
            self.fail(InvalidResponse(
                f"invalid HTTP response: head longer than {MAX_HEAD_BYTES} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        was, self.state = self.state, RETIRED  # while the request out is ended below
        self.owner.lost(self, was is not OPENING)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if was is BODY and not framed(self.head):  # a body delimited by the close
                self.status = self.parser.get_status_code()
                self.finish()
            elif was is BODY and exc is not None:  # a RST (socket error) mid-body
                self.fail(exc)
            elif was is BODY:
                self.fail(IncompleteBody(f"connection closed after {self.nbytes} body bytes"))
            else:
                self.fail(ServerDisconnected(
                    f"connection closed before a response: {exc or 'EOF'}"))
        self.state = CLOSED

    # -- llhttp callbacks (no on_header: a Python call per header costs ~15 % of the fast path;
    # the head is kept and scanned again only on the rare paths that need a header) --------
    def on_message_begin(self) -> None:
        if self.status >= 0:  # a second message in one chunk: not an answer to anything sent
            self.state = RETIRED

    def on_headers_complete(self) -> None:
        if self.state is not HEAD:  # the head of a message nobody asked for (see above)
            return
        self.state = BODY
        if self.head_bytes > MAX_FIELD_BYTES and max(  # a long head (rare): check each field
                (len(k) + len(v) + 2 for k, v in scan_headers(self.head)), default=0
        ) > MAX_FIELD_BYTES:
            self.fail(InvalidResponse(
                f"invalid HTTP response: header line longer than {MAX_FIELD_BYTES} bytes"))

    def on_body(self, body: bytes) -> None:
        self.nbytes += len(body)

    def on_message_complete(self) -> None:
        if self.state is not BODY:  # a message nobody asked for, or a head that failed
            return
        parser = self.parser
        status = parser.get_status_code()
        if 100 <= status < 200:  # interim (100, 103): the response follows (its head is kept)
            self.nbytes = 0
            self.state = HEAD
            return
        self.status = status
        self.state = IDLE if self.keepalive and parser.should_keep_alive() else RETIRED

    def finish(self) -> None:
        """The response is complete: report it, then send the next request if the chain wants
        one and this connection can carry it (kept alive, nobody else waiting for the pool)."""
        status, self.status = self.status, -1
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        owner = self.owner
        more = self.state is IDLE and not owner.closing and not owner.waiting
        if status >= 400:  # a failure's evidence, from the head chunks kept (never on success)
            driver: Any = self.driver
            driver.evidence = _head_evidence(self.head)
        try:
            again = self.driver.done(status, self.nbytes, more)
        except BaseException as exc:  # a bug in the driver: raise it in the chain's task
            self.waiter, self.state = None, RETIRED
            waiter.set_exception(exc)
            return
        if again:
            self.write(time.monotonic() + self.timeout)
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
        self.state = HEAD
        self.head.clear()
        assert self.transport is not None
        try:
            self.transport.write(self.payload)
        except Exception as exc:  # noqa: BLE001 - e.g. a transport closed under us: a failure
            self.fail(exc)

    def drop(self) -> None:
        """Bytes came while no request was out: take the connection out of the pool, close it.
        (While it is OPENING its opener still decides: it sees the transport closing.)"""
        if self.state is not OPENING:
            self.state = RETIRED
        self.owner.forget(self)
        if self.transport is not None:
            self.transport.abort()

    def fail(self, exc: BaseException) -> None:
        """End the current request with ``exc`` (unless its chain was cancelled), drop the
        connection."""
        if self.state is not CLOSED:
            self.state = RETIRED
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            self.driver.failed(exc)
            waiter.set_result(None)
        if self.transport is not None:
            self.transport.abort()
