"""The streams of one HTTP/2 connection: who is on it, what is in flight, what waits, and how
each stream ends (the bookkeeping half of :class:`~loadnb.transport.h2conn.H2Conn`, which adds
the socket and the frame loop).

A :class:`Chain` is one caller on the connection (a closed-model user's chain, or one request of
the open model): it has at most one stream at a time, and learns how each ended through its
:class:`~loadnb.transport.base.Driver`. Every stream ends in exactly one report (``done`` or
``failed``) unless its chain is abandoned (cancelled: the stream is reset, its end unreported).
A chain whose request could not be sent here (the connection stopped taking streams before it
was written) is *moved*: its waiter says so and the transport sends it on another connection;
a chain whose request exceeds the server's concurrency waits in the connection's queue.
Frames are collected in ``out`` and leave in one ``write``: at the end of the read that made
them, or at the next loop iteration for requests started from outside a read. Request bodies
respect the server's windows and frame size.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Protocol, cast

from .base import Driver
from .h2wire import (
    CANCEL,
    DATA,
    DEFAULT_MAX_FRAME,
    DEFAULT_WINDOW,
    END_HEADERS,
    END_STREAM,
    FRAME_HEAD,
    HEADERS,
    MAX_STREAM_ID,
    NO_ERROR,
    ProtocolError,
    ResponseHeaders,
    Transitions,
    frame,
    goaway,
    header_frames,
    rst_stream,
)

__all__ = ["SAMPLE_BYTES", "Chain", "Owner", "Stream", "Streams"]

#: Bytes of a failing response's body kept as its evidence.
SAMPLE_BYTES = 200
#: Streams assumed allowed until the server's SETTINGS say (RFC 9113 suggests >= 100).
ASSUMED_STREAMS = 100


class Owner(Protocol):
    """What a connection reads of the transport that opened it, and tells it."""

    closing: bool  # aclose() was called: no further request is chained
    waiting: int  # callers waiting for a stream: a chain gives its turn up

    def retire(self, conn: Streams) -> None:
        """``conn`` takes no new streams (GOAWAY, stream ids used up, no keep-alive)."""

    def lost(self, conn: Streams) -> None:
        """``conn`` is closed."""


class Chain:
    """One caller on a connection: its driver, the future its task awaits (set to True when its
    request was *moved*, not sent here), its request (``block``: the HPACK header block,
    ``body``) and its stream in flight."""

    __slots__ = ("driver", "waiter", "deadline", "stream", "block", "body")

    def __init__(self, driver: Driver, waiter: asyncio.Future[bool], deadline: float,
                 block: bytes, body: bytes = b"") -> None:
        self.driver, self.waiter, self.deadline = driver, waiter, deadline
        self.block, self.body = block, body
        self.stream: Stream | None = None


class Stream:
    """One request/response exchange."""

    __slots__ = ("sid", "chain", "status", "nbytes", "window", "sent", "sample", "received",
                 "cap")

    def __init__(self, sid: int, chain: Chain, window: int) -> None:
        self.sid, self.chain, self.window = sid, chain, window
        self.status = -1  # the final status, once its head is in
        self.nbytes = 0  # body bytes received
        self.sent = 0  # request body bytes sent
        self.received = 0  # DATA bytes since our last WINDOW_UPDATE of this stream
        self.sample: bytearray | None = None  # a failing response's first body bytes
        self.cap = SAMPLE_BYTES  # body bytes kept in ``sample`` at most


def _settle(waiter: asyncio.Future[bool], moved: bool) -> None:
    if not waiter.done():
        waiter.set_result(moved)


class Streams:
    """The streams of one connection sending its chains' requests on up to ``want`` concurrent
    streams (fewer if the server says so). ``stream_class`` makes each stream (a subclass may
    keep more of the response)."""

    stream_class = Stream

    def __init__(self, owner: Owner, *, want: int, timeout: float,
                 keepalive: bool = True, max_stream_id: int = MAX_STREAM_ID,
                 transitions: Transitions | None = None) -> None:
        self.owner = owner
        self.want, self.timeout, self.keepalive = want, timeout, keepalive
        self.max_stream_id = max_stream_id
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        #: Concurrent streams the transport hands out turns for; ``open_limit`` is what the
        #: connection opens: 0 until the server's first SETTINGS (its limit may be below the
        #: assumed one, and a server may refuse the excess or drop the connection).
        self.limit = min(want, ASSUMED_STREAMS)
        self.open_limit = 0
        self.next_sid = 1
        self.streams: dict[int, Stream] = {}
        self.queue: deque[Chain] = deque()  # chains waiting for the server's concurrency
        self.pending: list[Chain] = []  # chains whose next request leaves at the end of the read
        self.blocked: list[Stream] = []  # request bodies waiting for a window
        self.send_window = DEFAULT_WINDOW
        self.peer_window = DEFAULT_WINDOW  # the server's initial stream window
        self.peer_frame = DEFAULT_MAX_FRAME
        self.consumed = 0  # DATA bytes since our last connection WINDOW_UPDATE
        self.headers = ResponseHeaders(transitions)
        self.cont: tuple[int, int, bytearray] | None = None  # a header block being continued
        self.out: list[bytes] = []
        self.in_read = self.flush_due = False
        self.draining = self.closed = False
        self.error: BaseException | None = None  # why it closed, when we closed it on an error
        self.claims = 0  # callers holding a turn on it (the transport's bookkeeping)
        self.idle_since = 0.0

    # -- writing -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every frame made since the last write, in one ``write``."""
        self.flush_due = False
        out, transport = self.out, self.transport
        if out and transport is not None and not transport.is_closing():
            transport.write(b"".join(out))
        out.clear()

    def _flush_soon(self) -> None:
        if not self.in_read and not self.flush_due:
            self.flush_due = True
            asyncio.get_running_loop().call_soon(self.flush)

    # -- streams -------------------------------------------------------------------------------
    def begin(self, chain: Chain) -> None:
        """Send ``chain``'s request (from outside a read: written at the next loop iteration)."""
        self.start(chain)
        self._flush_soon()

    def start(self, chain: Chain) -> None:
        """Open a stream for ``chain``'s request; queue it while the server's concurrency is
        used up; move it when this connection takes no new streams."""
        if self.draining:
            _settle(chain.waiter, True)
            return
        streams = self.streams
        if len(streams) >= self.open_limit:
            self.queue.append(chain)
            return
        sid = self.next_sid
        self.next_sid = sid + 2
        st = self.stream_class(sid, chain, self.peer_window)
        streams[sid] = st
        chain.stream = st
        body, block = chain.body, chain.block
        if len(block) <= DEFAULT_MAX_FRAME and not body:  # the hot path: one HEADERS frame
            n = len(block)
            self.out += (FRAME_HEAD.pack(n >> 16, n & 0xFFFF, HEADERS, END_STREAM | END_HEADERS,
                                         sid), block)
        else:
            self.out.append(header_frames(block, sid, not body))
            if body:
                self.send_body(st)
        if self.next_sid > self.max_stream_id or not self.keepalive:
            self.retire()

    def send_body(self, st: Stream) -> None:
        """Send as much of the request body as the windows allow; the rest waits for a
        WINDOW_UPDATE (:meth:`unblock`)."""
        body, pos = st.chain.body, st.sent
        total = len(body)
        while pos < total:
            n = min(total - pos, st.window, self.send_window, self.peer_frame)
            if n <= 0:
                if st not in self.blocked:
                    self.blocked.append(st)
                break
            end = pos + n
            self.out.append(frame(DATA, END_STREAM if end == total else 0, st.sid,
                                  body[pos:end]))
            st.window -= n
            self.send_window -= n
            pos = end
        st.sent = pos

    def unblock(self) -> None:
        """A window opened: send the bodies waiting for one, in order."""
        waiting, self.blocked = self.blocked, []
        for st in waiting:
            if self.streams.get(st.sid) is st:
                self.send_body(st)

    def take_queued(self) -> None:
        """Start queued chains while the server's concurrency allows."""
        queue = self.queue
        while queue and len(self.streams) < self.open_limit and not self.draining:
            chain = queue.popleft()
            if not chain.waiter.done():
                self.start(chain)

    def move_queued(self) -> None:
        """This connection takes no new streams: its queued and pending chains go elsewhere."""
        queue, self.queue = self.queue, deque()
        pending, self.pending = self.pending, []
        for chain in [*pending, *queue]:
            _settle(chain.waiter, True)

    def complete(self, st: Stream, now: float) -> None:
        """The response on ``st`` is complete: report it, and send the chain's next request at
        once if it wants one and may keep its turn here."""
        del self.streams[st.sid]
        chain = st.chain
        if st.sent < len(chain.body):  # answered before its body was all sent
            self.out.append(rst_stream(st.sid, NO_ERROR))
        chain.stream = None
        waiter, driver = chain.waiter, chain.driver
        status = st.status
        if status >= 400:
            body = bytes(st.sample or b"")[:SAMPLE_BYTES].decode("utf-8", "replace")
            cast(Any, driver).evidence = f"HTTP/2 {status}\n{body}".rstrip("\n")
        owner = self.owner
        more = not self.draining and not owner.closing and not owner.waiting
        try:
            again = driver.done(status, st.nbytes, more)
        except BaseException as exc:  # a bug in the driver: raise it in the chain's task
            if not waiter.done():
                waiter.set_exception(exc)
            again = False
        if again:  # sent once the whole read is handled (a GOAWAY in it moves it instead)
            chain.deadline = now + self.timeout
            self.pending.append(chain)
        else:
            _settle(waiter, False)
        self.after_stream()

    def fail(self, st: Stream, exc: BaseException) -> None:
        """End ``st`` with ``exc`` (reported to its chain's driver)."""
        self.streams.pop(st.sid, None)
        chain = st.chain
        chain.stream = None
        if not chain.waiter.done():
            chain.driver.failed(exc)
            chain.waiter.set_result(False)
        self.after_stream()

    def reset(self, st: Stream, code: int, exc: BaseException) -> None:
        """Reset ``st`` ourselves (RST_STREAM ``code``) and end it with ``exc``."""
        self.out.append(rst_stream(st.sid, code))
        self.fail(st, exc)
        self._flush_soon()

    def end_of_read(self) -> None:
        """A read is handled: send the requests it made (the chains' next ones, then queued
        ones); a connection that stopped taking streams during the read moves them elsewhere,
        so a request that never left is never failed."""
        pending, self.pending = self.pending, []
        for chain in pending:
            self.start(chain)
        if self.queue:
            self.take_queued()

    def after_stream(self) -> None:
        """A stream ended: start queued chains (after the read, if in one), or close a drained
        connection."""
        if self.queue and not self.in_read:
            self.take_queued()
        if self.draining and not self.streams and not self.closed:
            self.move_queued()
            self.close()

    def abandon(self, chain: Chain) -> None:
        """``chain`` was cancelled: reset its stream, which is never reported."""
        st = chain.stream
        if st is not None and self.streams.get(st.sid) is st:
            del self.streams[st.sid]
            chain.stream = None
            self.out.append(rst_stream(st.sid, CANCEL))
            self._flush_soon()
        try:
            self.queue.remove(chain)
        except ValueError:
            pass
        if not self.closed:
            self.after_stream()

    def expire(self, now: float) -> None:
        """Fail the requests past their deadline (the transport's sweeper calls this)."""
        for st in [s for s in self.streams.values() if s.chain.deadline <= now]:
            self.reset(st, CANCEL, TimeoutError(f"no complete response within {self.timeout:g}s"))
        for chain in [c for c in self.queue if c.deadline <= now]:
            self.queue.remove(chain)
            if not chain.waiter.done():
                chain.driver.failed(TimeoutError(
                    f"no stream free on the connection within {self.timeout:g}s"))
                chain.waiter.set_result(False)

    # -- the connection ------------------------------------------------------------------------
    def retire(self) -> None:
        """Take no new streams; close once the open ones have ended."""
        if not self.draining:
            self.draining = True
            self.owner.retire(self)

    def close(self) -> None:
        """Say GOAWAY and close (the streams still open end as the connection is lost)."""
        self.draining = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.out.append(goaway(0, NO_ERROR))
            self.flush()
            transport.close()

    def fail_connection(self, exc: ProtocolError) -> None:
        """The server broke the protocol: GOAWAY with its code, every open stream fails with
        ``exc``, the connection is dropped."""
        self.error = exc
        self.retire()
        self.out.append(goaway(0, exc.code))
        self.flush()
        for st in list(self.streams.values()):
            self.fail(st, exc)
        self.move_queued()
        if self.transport is not None:
            self.transport.abort()

