"""One connection of the fast transport: an asyncio protocol feeding llhttp (httptools).

A connection carries one request at a time. While a chain runs on it (``waiter`` pending), each
complete response goes to the chain's :class:`Driver` once the received chunk is parsed to its
end, and the next request is written at once if the driver wants one. In the open model a
:class:`~loadnb.transport.lane.Lane` takes the driver's place (``lane`` set, ``waiter`` the
lane's own future while a request is out): it records the response and writes the next waiting
arrival, if any. Bytes past the end of the response in the same chunk, or bytes while no request
is out, were not asked for: the connection is not used again. Its life is one :class:`ConnState`::

    OPENING -> IDLE -> HEAD -> BODY -> IDLE (kept alive: the next request, or back to the pool)
                        ^-- 1xx --'
    (any) -> RETIRED (carries no further request; closing) -> CLOSED (lost: from any state)
"""

from __future__ import annotations

import asyncio
import enum
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
    head_complete,
    scan_headers,
)

__all__ = ["BODY", "CLOSED", "HEAD", "IDLE", "OPENING", "RETIRED", "Conn", "ConnState", "LaneSide",
           "OneRequest", "Owner", "head_evidence"]


class ConnState(enum.Enum):
    """Where a connection is in its life."""

    #: Being connected. Its pool slot is still its opener's, who frees it if the connection is
    #: lost (or given up) before it is handed over; from then on the connection's loss frees it.
    OPENING = "opening"
    #: Open, no request out: idle in the pool, or a response complete and the connection kept.
    IDLE = "idle"
    #: A request is out; its response head is being read (kept for the rare header checks), or
    #: is in but no body byte has come yet.
    HEAD = "head"
    #: The head and body bytes are in; the rest of the body is being read.
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
    sweeps: int  # the sweeper's count: the transport's coarse clock (see sweeper.py)

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


def head_evidence(head: list[bytes]) -> str:
    """The status line and the first body bytes in the head chunks of a response (its first
    chunk usually holds the start of the body too)."""
    data = b"".join(head)[:MAX_HEAD_BYTES]
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2][:SAMPLE_BYTES]
    return (status_line.decode("latin-1") + "\n" + body.decode("utf-8", "replace")).rstrip("\n")


class LaneSide(Protocol):
    """Who a connection carrying an open-model arrival reports to (``conn.lane``; the fast
    transport's :class:`~loadnb.transport.lane.Lane`), instead of a chain's driver."""

    def done(self, conn: Conn, status: int, nbytes: int) -> None:
        """The response to the arrival ``conn`` carries is complete (``nbytes`` body bytes; the
        connection is IDLE when it can carry another request)."""

    def failed(self, conn: Conn, exc: BaseException) -> None:
        """The arrival ``conn`` carries got no usable response."""


class Conn(asyncio.Protocol):
    """One keep-alive connection that sends ``payload`` (the run's request) on demand.

    Per response llhttp calls one Python method, :meth:`on_message_complete`; its other two
    callbacks are C methods of two lists: ``on_body`` appends each body chunk to ``bodies``
    (counted and cleared once the received chunk is parsed), and ``on_message_begin`` pops a
    *token* from ``tokens``. :meth:`write` puts one token in for the one response it expects (an
    interim 1xx response adds one for the response that follows it), so a message nobody asked
    for finds none: the pop raises in the parser, which fails the chunk, and the connection is
    not used again. (A Python callback costs about a thousand instructions, a C method a tenth.)
    """

    __slots__ = ("owner", "payload", "keepalive", "transport", "parser", "state",
                 "driver", "waiter", "since", "idle_since", "nbytes", "head_bytes", "head",
                 "status", "bodies", "tokens", "on_body", "on_message_begin", "lane",
                 "intended", "sent", "interim", "same", "same_status", "same_nbytes", "fresh",
                 "send")

    def __init__(self, owner: Owner, payload: bytes, keepalive: bool) -> None:
        self.owner = owner
        self.payload, self.keepalive = payload, keepalive
        self.transport: asyncio.Transport | None = None
        self.state = OPENING
        self.driver: Driver = OneRequest()
        self.waiter: asyncio.Future[None] | None = None  # pending while a chain runs on it
        self.lane: LaneSide | None = None  # set while it carries an open-model arrival
        self.intended = self.sent = 0.0  # that arrival's times (the lane's clock)
        self.since = 0  # the sweep count when the request out was written (or began to wait)
        self.idle_since = 0  # the sweep count when it was last given back to the pool
        self.nbytes = 0
        self.head_bytes = 0
        self.head: list[bytes] = []
        self.bodies: list[bytes] = []
        self.tokens: list[None] = []
        self.on_body = self.bodies.append
        self.on_message_begin = self.tokens.pop
        self.parser = httptools.HttpResponseParser(self)  # (reads the callbacks above)
        # The status of a whole response in the chunk being parsed, reported once it is parsed
        # to its end (-1: none), even if the connection is RETIRED by then (not a state).
        self.status = -1
        self.fresh = False  # a request was written and no byte of its response parsed yet
        self.send: Any = None  # the transport's write (bound once)
        self.interim = False  # an interim (1xx) response came since the last one parsed whole
        # The last response parsed, if it came whole and alone in one chunk, kept alive, with a
        # status below 400: a chunk of the same bytes is the same response (llhttp, back at the
        # start of a message, would parse it the same way), counted without parsing it again.
        # A static target's answers differ only when their Date header turns, once a second.
        self.same: bytes | None = None
        self.same_status = self.same_nbytes = 0

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.send = self.transport.write
        self.owner.made(self)

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # no request out: nobody asked for these
            self.drop()
            return
        if data == self.same:  # the very bytes of the last response parsed: the same parse
            self.state = IDLE
            status, nbytes = self.same_status, self.same_nbytes
        elif self.parse(data):
            status, self.status, nbytes = self.status, -1, self.nbytes
        else:
            return
        lane = self.lane
        if lane is not None:
            lane.done(self, status, nbytes)
            return
        owner = self.owner
        if status >= 400 or self.state is not IDLE or owner.closing or owner.waiting:
            self.report(waiter, status, nbytes)
            return
        # The closed model's hot path: report() and write() inline (a Python call costs more).
        try:
            again = self.driver.done(status, nbytes, True)
        except BaseException as exc:  # a bug in the driver: raise it in the chain's task
            self.crashed(waiter, exc)
            return
        if again:
            self.since, self.state, self.fresh = owner.sweeps, HEAD, True
            try:
                self.send(self.payload)
            except Exception as exc:  # noqa: BLE001 - e.g. a transport closed under us
                self.fail(exc)
        else:
            self.waiter = None
            waiter.set_result(None)

    def parse(self, data: bytes) -> bool:
        """Parse a received chunk; True when it completes the response (``status`` set)."""
        self.same = None  # (the parser may stop inside a message: no shortcut until it ends)
        if self.fresh:  # the response's first chunk (the head is not complete: keep it)
            self.fresh = False
            self.head, self.head_bytes, self.nbytes = [data], len(data), 0
            self.tokens.append(None)  # the one response asked for may begin
        elif self.state is HEAD:  # the head is not known to be complete yet: keep the chunk
            self.head.append(data)
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self.unparsable(exc)
            return False
        if self.status < 0:
            self.partial()
            return False
        bodies = self.bodies
        if bodies:
            self.nbytes += sum(map(len, bodies))
            bodies.clear()
        if (self.status < 400 and self.state is IDLE and len(self.head) == 1
                and not self.interim):  # a whole response alone in its chunk: remember it
            self.same, self.same_status, self.same_nbytes = data, self.status, self.nbytes
        self.interim = False
        return True

    def partial(self) -> None:
        """The chunk parsed holds no end of the response: count its body bytes, check the head."""
        bodies = self.bodies
        if bodies:  # body bytes: the head is complete
            self.nbytes += sum(map(len, bodies))
            bodies.clear()
            if self.state is HEAD:
                self.head_done()
        elif self.state is HEAD and self.head_bytes > MAX_HEAD_BYTES:
            self.fail(InvalidResponse(
                f"invalid HTTP response: head longer than {MAX_HEAD_BYTES} bytes"))

    def unparsable(self, exc: Exception) -> None:
        """The chunk is not (only) the response asked for."""
        if self.status >= 0:  # a whole response, then bytes that are none (or a message)
            self.state = RETIRED
            self.nbytes += sum(map(len, self.bodies))
            self.bodies.clear()
            self.finish()
        else:
            self.fail(InvalidResponse(f"invalid HTTP response: {exc!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        was, self.state = self.state, RETIRED  # while the request out is ended below
        self.owner.lost(self, was is not OPENING)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            headed = was is BODY or (was is HEAD and not self.fresh
                                     and head_complete(self.head))
            if headed and not framed(self.head):  # a body delimited by the close
                self.status = self.parser.get_status_code()
                self.finish()
            elif headed and exc is not None:  # a RST (socket error) mid-body
                self.fail(exc)
            elif headed:
                self.fail(IncompleteBody(f"connection closed after {self.nbytes} body bytes"))
            else:
                self.fail(ServerDisconnected(
                    f"connection closed before a response: {exc or 'EOF'}"))
        self.state = CLOSED

    # -- llhttp's one Python callback, and the head's checks (a Python call per header would
    # cost ~15 % of the fast path: the head is kept and scanned again only when needed) -------
    def on_message_complete(self) -> None:
        state = self.state
        if state is not HEAD and state is not BODY:  # a head that failed its checks
            return
        parser = self.parser
        status = parser.get_status_code()
        if status < 200 and status >= 100:  # interim (100, 103): the response follows
            self.nbytes = 0
            self.state = HEAD  # (its head is kept)
            self.tokens.append(None)
            self.interim = True
            return
        if state is HEAD and self.head_bytes > MAX_FIELD_BYTES and not self.head_done():
            return
        self.status = status
        self.state = IDLE if self.keepalive and parser.should_keep_alive() else RETIRED

    def head_done(self) -> bool:
        """The head is complete (HEAD -> BODY) and its lines are within the limit; else the
        request failed."""
        self.state = BODY
        if self.head_bytes > MAX_FIELD_BYTES and max(  # a long head (rare): check each field
                (len(k) + len(v) + 2 for k, v in scan_headers(self.head)), default=0
        ) > MAX_FIELD_BYTES:
            self.fail(InvalidResponse(
                f"invalid HTTP response: header line longer than {MAX_FIELD_BYTES} bytes"))
            return False
        return True

    def finish(self) -> None:
        """The response is complete: to the lane or the chain (:meth:`report`), unless the
        chain was cancelled or the lane closed."""
        status, self.status = self.status, -1
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.lane is not None:
            self.lane.done(self, status, self.nbytes)
        else:
            self.report(waiter, status, self.nbytes)

    def report(self, waiter: asyncio.Future[None], status: int, nbytes: int) -> None:
        """The response is complete: report it to the chain's driver, then send the next
        request if it wants one and this connection can carry it (kept alive, nobody waiting for
        the pool); :meth:`data_received` inlines it for a success kept alive."""
        owner = self.owner
        more = self.state is IDLE and not owner.closing and not owner.waiting
        if status >= 400:  # a failure's evidence, from the head chunks kept (never on success)
            cast(Any, self.driver).evidence = head_evidence(self.head)
        try:
            again = self.driver.done(status, nbytes, more)
        except BaseException as exc:  # a bug in the driver: raise it in the chain's task
            self.crashed(waiter, exc)
            return
        if again:
            self.write(owner.sweeps)
        else:
            self.waiter = None
            waiter.set_result(None)

    def crashed(self, waiter: asyncio.Future[None], exc: BaseException) -> None:
        """The driver raised ``exc`` (a bug): raise it in the chain's task."""
        self.waiter, self.state = None, RETIRED
        waiter.set_exception(exc)

    # -- use -----------------------------------------------------------------------------------
    def start(self, driver: Driver, waiter: asyncio.Future[None], since: int) -> None:
        """Run a chain: send the request ``driver`` has just started, and the ones it asks for
        (``since``: the sweep count when the first began to wait for a connection)."""
        self.driver, self.waiter, self.lane = driver, waiter, None
        self.write(since)

    def write(self, since: int) -> None:
        """Send the run's request; it times out a timeout after the sweep count ``since``
        (``fresh``: the response's first chunk resets what the last one left)."""
        self.since, self.state, self.fresh = since, HEAD, True
        try:
            self.send(self.payload)
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
            lane = self.lane
            if lane is not None:
                lane.failed(self, exc)
            else:
                self.driver.failed(exc)
                waiter.set_result(None)
        if self.transport is not None:
            self.transport.abort()
