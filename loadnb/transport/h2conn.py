"""One HTTP/2 connection of the HTTP/2 transport: an asyncio ``BufferedProtocol`` reading frames
into one preallocated buffer, on top of the stream bookkeeping of
:class:`~loadnb.transport.h2streams.Streams`.

Each read is parsed frame by frame with one ``struct.unpack_from`` per frame head; a frame cut by
the read stays at the front of the buffer for the next read. DATA and HEADERS (the hot frames)
are handled inline, the rest by :meth:`H2Conn.control`. What the server does wrong is a
:class:`~loadnb.transport.h2wire.ProtocolError`: a connection error (GOAWAY with its code, every
open stream failed with it) or, where RFC 9113 says so, a stream error (that stream reset).
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import cast

from .h2streams import Owner, Stream, Streams
from .h2wire import (
    ACK,
    CONTINUATION,
    DATA,
    DEFAULT_MAX_FRAME,
    DEFAULT_WINDOW,
    ENABLE_PUSH,
    END_HEADERS,
    END_STREAM,
    FLOW_CONTROL_ERROR,
    FRAME_HEAD,
    FRAME_SIZE_ERROR,
    GOAWAY,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS,
    MAX_FRAME_SIZE,
    MAX_STREAM_ID,
    MAX_WINDOW,
    NO_ERROR,
    PADDED,
    PING,
    PREFACE,
    PRIORITY_FLAG,
    PROTOCOL_ERROR,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    GoAway,
    ProtocolError,
    StreamReset,
    Transitions,
    frame,
    settings_frame,
    window_update,
)

__all__ = ["H2Conn"]

#: The receive buffer (a frame is at most 16 KiB + 9 bytes: many fit, none is ever cut off).
BUFFER = 256 * 1024
#: The longest header block (HEADERS + CONTINUATION) we keep before calling it abuse.
MAX_HEADER_BLOCK = 1 << 20
#: Received bytes after which the connection or a stream window is topped up again.
TOP_UP = 1 << 30
_U32 = struct.Struct(">I")
_TWO_U32 = struct.Struct(">II")
_SETTING = struct.Struct(">HI")


def _padded(buf: bytearray, p0: int, end: int) -> tuple[int, int]:
    """The payload of a PADDED frame without its pad length byte and padding."""
    pad = buf[p0] if end > p0 else 0
    if end == p0 or pad >= end - p0:
        raise ProtocolError(PROTOCOL_ERROR, "padding as long as the frame")
    return p0 + 1, end - pad


class H2Conn(Streams, asyncio.BufferedProtocol):
    """One HTTP/2 connection (h2 over TLS, or h2c) of the HTTP/2 transport."""

    def __init__(self, owner: Owner, *, want: int, timeout: float,
                 keepalive: bool = True, max_stream_id: int = MAX_STREAM_ID,
                 transitions: Transitions | None = None) -> None:
        super().__init__(owner, want=want, timeout=timeout, keepalive=keepalive,
                         max_stream_id=max_stream_id, transitions=transitions)
        self.buf = bytearray(BUFFER)
        self.view = memoryview(self.buf)
        self.fill = 0

    # -- asyncio.BufferedProtocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sslobj = transport.get_extra_info("ssl_object")
        protocol = "h2c" if sslobj is None else (sslobj.selected_alpn_protocol() or "http/1.1")
        if protocol not in ("h2", "h2c"):  # the transport falls back to HTTP/1.1
            self.draining = True
            self.ready.set_result(protocol)
            return
        settings = settings_frame({ENABLE_PUSH: 0, INITIAL_WINDOW_SIZE: MAX_WINDOW})
        self.out += [PREFACE, settings, window_update(0, MAX_WINDOW - DEFAULT_WINDOW)]
        self.flush()
        self.ready.set_result(protocol)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view[self.fill:]

    def buffer_updated(self, nbytes: int) -> None:
        n = self.fill + nbytes
        self.in_read = True
        try:
            pos = self.read_frames(self.buf, n)
        except ProtocolError as exc:
            self.in_read = False
            self.fail_connection(exc)
            return
        self.in_read = False
        if pos < n:  # keep the partial frame at the front
            self.buf[: n - pos] = self.buf[pos:n]
        self.fill = n - pos
        if self.pending or self.queue:
            self.end_of_read()
        self.flush()

    def eof_received(self) -> bool | None:
        return None  # close the transport (TLS too)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.draining = True
        self.owner.lost(self)
        if not self.ready.done():
            self.ready.set_exception(ConnectionResetError(f"connection closed: {exc or 'EOF'}"))
        error = self.error or ConnectionResetError(
            f"connection closed before the response: {exc or 'EOF'}")
        for st in list(self.streams.values()):
            self.fail(st, error)
        self.move_queued()

    # -- frames --------------------------------------------------------------------------------
    def read_frames(self, buf: bytearray, n: int) -> int:
        """Handle every whole frame in ``buf[:n]``; return where the first partial one starts."""
        pos, now, unpack, streams = 0, time.monotonic(), FRAME_HEAD.unpack_from, self.streams
        while n - pos >= 9:
            hi, lo, ftype, flags, sid = unpack(buf, pos)
            length = hi << 16 | lo
            if length > DEFAULT_MAX_FRAME:
                raise ProtocolError(FRAME_SIZE_ERROR, f"a {length}-byte frame (we allow 16384)")
            end = pos + 9 + length
            if end > n:
                break
            p0, pos = pos + 9, end
            sid &= 0x7FFFFFFF
            if self.cont is not None and ftype != CONTINUATION:
                raise ProtocolError(PROTOCOL_ERROR, "a header block not continued")
            if ftype == DATA:
                self.consumed += length
                st = streams.get(sid)
                if st is None:
                    self.unknown(sid, "DATA")
                    continue
                if flags & PADDED:
                    p0, end = _padded(buf, p0, end)
                if st.status < 200:
                    self.reset(st, PROTOCOL_ERROR, ProtocolError(
                        PROTOCOL_ERROR, "DATA before the response head"))
                    continue
                st.nbytes += end - p0
                if st.sample is not None and len(st.sample) < st.cap:
                    st.sample += buf[p0:end]
                st.received += length
                if st.received > TOP_UP:
                    self.out.append(window_update(sid, st.received))
                    st.received = 0
                if flags & END_STREAM:
                    self.complete(st, now)
            elif ftype == HEADERS:
                if flags & PADDED:
                    p0, end = _padded(buf, p0, end)
                if flags & PRIORITY_FLAG:
                    p0 += 5
                if flags & END_HEADERS:
                    self.header_block(sid, flags, bytes(buf[p0:end]), now)
                else:
                    self.cont = (sid, flags, bytearray(buf[p0:end]))
            else:
                self.control(ftype, flags, sid, buf, p0, end, now)
        if self.consumed > TOP_UP:
            self.out.append(window_update(0, self.consumed))
            self.consumed = 0
        return pos

    def unknown(self, sid: int, what: str) -> None:
        """A frame for a stream that is not open: ignored if it is one we closed (reset,
        abandoned, timed out), a protocol error otherwise."""
        if not (sid & 1 and sid < self.next_sid):
            raise ProtocolError(PROTOCOL_ERROR, f"{what} on stream {sid}, never opened")

    def header_block(self, sid: int, flags: int, block: bytes, now: float) -> None:
        """A whole header block: a response head (1xx interim or final) or trailers. Decoded
        even for a closed stream, to keep the HPACK table in step with the server's."""
        status = self.head(sid, block)
        st = self.streams.get(sid)
        if st is None:
            self.unknown(sid, "HEADERS")
            return
        if st.status < 200:  # a response head
            if status < 0:
                self.reset(st, PROTOCOL_ERROR, ProtocolError(
                    PROTOCOL_ERROR, "a response head without :status"))
                return
            if status < 200:  # interim (100, 103): the response follows
                return
            st.status = status
            if status >= 400 and st.sample is None:
                st.sample = bytearray()
        if flags & END_STREAM:
            self.complete(st, now)

    def head(self, sid: int, block: bytes) -> int:
        """The ``:status`` of a header block for stream ``sid`` (-1 without one)."""
        return self.headers.status(block)

    def control(self, ftype: int, flags: int, sid: int, buf: bytearray, p0: int, end: int,
                now: float) -> None:
        """Every frame but DATA and HEADERS."""
        if ftype == SETTINGS:
            self.settings(flags, sid, buf, p0, end)
        elif ftype == WINDOW_UPDATE:
            self.window_update(sid, buf, p0, end)
        elif ftype == RST_STREAM:
            if end - p0 != 4 or sid == 0:
                raise ProtocolError(FRAME_SIZE_ERROR if sid else PROTOCOL_ERROR,
                                    "a malformed RST_STREAM")
            st = self.streams.get(sid)
            if st is None:
                self.unknown(sid, "RST_STREAM")
            else:
                self.fail(st, StreamReset(_U32.unpack_from(buf, p0)[0]))
        elif ftype == PING:
            if end - p0 != 8 or sid != 0:
                raise ProtocolError(FRAME_SIZE_ERROR if sid == 0 else PROTOCOL_ERROR,
                                    "a malformed PING")
            if not flags & ACK:
                self.out.append(frame(PING, ACK, 0, bytes(buf[p0:end])))
        elif ftype == GOAWAY:
            self.goaway(sid, buf, p0, end)
        elif ftype == CONTINUATION:
            cont = self.cont
            if cont is None or cont[0] != sid:
                raise ProtocolError(PROTOCOL_ERROR, "CONTINUATION without its HEADERS")
            cont[2].extend(buf[p0:end])
            if len(cont[2]) > MAX_HEADER_BLOCK:
                raise ProtocolError(PROTOCOL_ERROR, "a header block longer than 1 MiB")
            if flags & END_HEADERS:
                self.cont = None
                self.header_block(sid, cont[1], bytes(cont[2]), now)
        elif ftype == PUSH_PROMISE:
            raise ProtocolError(PROTOCOL_ERROR, "PUSH_PROMISE although push is disabled")
        # PRIORITY and unknown frame types are ignored (RFC 9113 4.1, 5.5)

    def settings(self, flags: int, sid: int, buf: bytearray, p0: int, end: int) -> None:
        if sid != 0:
            raise ProtocolError(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if end != p0:
                raise ProtocolError(FRAME_SIZE_ERROR, "a SETTINGS ack with a payload")
            return
        if (end - p0) % 6:
            raise ProtocolError(FRAME_SIZE_ERROR, "a SETTINGS frame not made of 6-byte pairs")
        for at in range(p0, end, 6):
            ident, value = _SETTING.unpack_from(buf, at)
            if ident == MAX_CONCURRENT_STREAMS:
                self.limit = min(self.want, value)
            elif ident == INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise ProtocolError(FLOW_CONTROL_ERROR, f"an initial window of {value}")
                delta, self.peer_window = value - self.peer_window, value
                for st in self.streams.values():
                    st.window += delta
                    if st.window > MAX_WINDOW:
                        raise ProtocolError(FLOW_CONTROL_ERROR, "a stream window over 2^31-1")
            elif ident == MAX_FRAME_SIZE:
                if not DEFAULT_MAX_FRAME <= value < 1 << 24:
                    raise ProtocolError(PROTOCOL_ERROR, f"a maximum frame size of {value}")
                self.peer_frame = value
            elif ident == ENABLE_PUSH and value > 1:
                raise ProtocolError(PROTOCOL_ERROR, f"ENABLE_PUSH {value}")
        self.open_limit = self.limit  # (queued chains start at the end of the read)
        self.out.append(frame(SETTINGS, ACK, 0))
        if self.blocked:
            self.unblock()

    def window_update(self, sid: int, buf: bytearray, p0: int, end: int) -> None:
        if end - p0 != 4:
            raise ProtocolError(FRAME_SIZE_ERROR, "a malformed WINDOW_UPDATE")
        increment = _U32.unpack_from(buf, p0)[0] & 0x7FFFFFFF
        if sid == 0:
            if increment == 0:
                raise ProtocolError(PROTOCOL_ERROR, "a WINDOW_UPDATE of 0")
            self.send_window += increment
            if self.send_window > MAX_WINDOW:
                raise ProtocolError(FLOW_CONTROL_ERROR, "a connection window over 2^31-1")
        else:
            st: Stream | None = self.streams.get(sid)
            if st is None:
                self.unknown(sid, "WINDOW_UPDATE")
                return
            st.window += increment
            if increment == 0 or st.window > MAX_WINDOW:
                code = PROTOCOL_ERROR if increment == 0 else FLOW_CONTROL_ERROR
                self.reset(st, code, ProtocolError(code, f"a stream WINDOW_UPDATE of {increment}"))
                return
        if self.blocked:
            self.unblock()

    def goaway(self, sid: int, buf: bytearray, p0: int, end: int) -> None:
        """GOAWAY: no new streams here; those above the last stream the server will process
        fail with ``GOAWAY <code>`` (never retried: a load tester shows what happened)."""
        if sid != 0 or end - p0 < 8:
            raise ProtocolError(PROTOCOL_ERROR, "a malformed GOAWAY")
        last, code = _TWO_U32.unpack_from(buf, p0)
        last &= 0x7FFFFFFF
        error = GoAway(code, last, bytes(buf[p0 + 8:end]))
        if self.error is None:  # what the streams still open fail with if the server closes
            self.error = error
        self.retire()
        for st in [s for s in self.streams.values() if s.sid > last]:
            self.fail(st, error)
        self.move_queued()
        if not self.streams or code != NO_ERROR:
            self.close()
