"""HTTP/2 on the wire for the HTTP/2 transport: frame layout, the request's header block, the
response-header decoder, and the failures a stream or a connection can have (RFC 9113, 7541).

The request is the same on every stream of a run, so its header block is HPACK-encoded once
without touching the dynamic table (static-table indices and literals "without indexing"): that
block is valid verbatim on every stream of every connection. Responses are decoded by
``hpack.Decoder`` behind a cache keyed on the block's bytes, which is exact because it is only
used while the decoder's dynamic table is the one the cached entries were decoded with
(:class:`ResponseHeaders`).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

import hpack
from hpack.table import HeaderTable

from .._version import __version__
from .base import TransportOptions

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
#: SETTINGS identifiers (RFC 9113 6.5.2).
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, \
    MAX_HEADER_LIST_SIZE = range(1, 7)
#: Error codes (RFC 9113 7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = range(10)
ERROR_NAMES = ("NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
               "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
               "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
               "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED")
MAX_WINDOW = 2**31 - 1
MAX_STREAM_ID = 2**31 - 1
#: The largest frame payload either side may send before SETTINGS say otherwise; we never
#: raise ours, so no frame we read is larger.
DEFAULT_MAX_FRAME = 16384
DEFAULT_WINDOW = 65535
#: ``>BHBBI``: the 24-bit length as a byte and a short, type, flags, stream id.
FRAME_HEAD = struct.Struct(">BHBBI")
_U32 = struct.Struct(">I")
_SETTING = struct.Struct(">HI")


def _error_name(code: int) -> str:
    """``REFUSED_STREAM`` for 7; an unknown code as hex (``0xff``)."""
    return ERROR_NAMES[code] if 0 <= code < len(ERROR_NAMES) else hex(code)


class StreamReset(Exception):
    """The server reset the stream (RST_STREAM): ``RST_STREAM <code>``."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the server reset the stream: RST_STREAM {_error_name(code)}")
        self.kind = f"RST_STREAM {_error_name(code)}"


class GoAway(Exception):
    """The server said GOAWAY before it processed the stream: ``GOAWAY <code>``."""

    def __init__(self, code: int, last_stream: int, debug: bytes = b"") -> None:
        text = debug[:200].decode("utf-8", "replace")
        super().__init__(f"GOAWAY {_error_name(code)} (last stream {last_stream})"
                         + (f": {text}" if text else ""))
        self.kind = f"GOAWAY {_error_name(code)}"


class ProtocolError(Exception):
    """The server broke HTTP/2 (a connection or stream error we detected): ``HTTP/2 <code>``,
    e.g. ``HTTP/2 PROTOCOL_ERROR``, ``HTTP/2 FLOW_CONTROL_ERROR``, ``HTTP/2 COMPRESSION_ERROR``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"HTTP/2 {_error_name(code)}: {message}")
        self.code = code
        self.kind = f"HTTP/2 {_error_name(code)}"


def fallback_warning(protocol: str) -> str:
    """What a run says when the server did not offer h2 (it chose ``protocol``)."""
    return (f"HTTP/2 was asked for, but the server did not offer h2 by ALPN (it chose "
            f"{protocol}): the run speaks HTTP/1.1")


# -- sending ------------------------------------------------------------------------------------
def frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One frame: the 9-byte head and ``payload``."""
    n = len(payload)
    return FRAME_HEAD.pack(n >> 16, n & 0xFFFF, ftype, flags, stream) + payload


def settings_frame(pairs: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(_SETTING.pack(k, v) for k, v in pairs.items()))


def window_update(stream: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream, _U32.pack(increment))


def rst_stream(stream: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream, _U32.pack(code))


def goaway(last_stream: int, code: int) -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream, code))


def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    """An HPACK integer (RFC 7541 5.1) with ``first``'s high bits set."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_STATIC = HeaderTable.STATIC_TABLE
_FULL = {h: i + 1 for i, h in reversed(list(enumerate(_STATIC)))}
_NAMES = {h[0]: i + 1 for i, h in reversed(list(enumerate(_STATIC)))}


def encode_stateless(headers: list[tuple[bytes, bytes]]) -> bytes:
    """An HPACK block that never touches the dynamic table: valid verbatim on every stream."""
    out = bytearray()
    for name, value in headers:
        index = _FULL.get((name, value))
        if index is not None:
            out += _integer(index, 7, 0x80)
            continue
        index = _NAMES.get(name)
        if index is not None:  # literal without indexing, indexed name
            out += _integer(index, 4, 0x00)
        else:
            out += b"\x00" + _integer(len(name), 7, 0) + name
        out += _integer(len(value), 7, 0) + value
    return bytes(out)


#: Headers HTTP/2 forbids (connection-specific, RFC 9113 8.2.2); ``host`` becomes :authority.
_DROPPED = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                      "upgrade", "host", "te"})


def request_headers(options: TransportOptions) -> list[tuple[bytes, bytes]]:
    """The run's request as HTTP/2 header fields (:func:`request_fields`)."""
    return request_fields(options.method, options.url, options.headers, options.body or b"")


def request_fields(method: str, url: str, headers: Mapping[str, str],
                   body: bytes) -> list[tuple[bytes, bytes]]:
    """A request as HTTP/2 header fields: the same fields the HTTP/1.1 transports send
    (User-Agent, Accept, Content-Length/Type, the given ones), lower-cased, with ``Host`` as
    ``:authority`` and the connection-specific ones left out. Values are sent as UTF-8."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    given = {k.lower(): v for k, v in headers.items()}
    authority = given.get("host") or parts.netloc.rpartition("@")[2]
    fields = [(":method", method), (":scheme", parts.scheme),
              (":authority", authority), (":path", target)]
    if "user-agent" not in given:
        fields.append(("user-agent", f"loadnb/{__version__}"))
    fields += [(k, v) for k, v in given.items() if k not in _DROPPED]
    if "accept" not in given:
        fields.append(("accept", "*/*"))
    if "content-length" not in given and (body or method not in ("GET", "OPTIONS", "HEAD")):
        fields.append(("content-length", str(len(body))))
    if body and "content-type" not in given:
        fields.append(("content-type", "application/octet-stream"))
    if given.get("te", "").lower() == "trailers":  # the one TE value HTTP/2 allows
        fields.append(("te", "trailers"))
    return [(k.encode("utf-8"), v.encode("utf-8")) for k, v in fields]


def header_frames(block: bytes, stream: int, end_stream: bool) -> bytes:
    """HEADERS (and CONTINUATION frames when the block is longer than a frame may be)."""
    flags = END_STREAM if end_stream else 0
    if len(block) <= DEFAULT_MAX_FRAME:
        return frame(HEADERS, flags | END_HEADERS, stream, block)
    pieces = [block[i:i + DEFAULT_MAX_FRAME] for i in range(0, len(block), DEFAULT_MAX_FRAME)]
    out = [frame(HEADERS, flags, stream, pieces[0])]
    out += [frame(CONTINUATION, 0, stream, p) for p in pieces[1:-1]]
    out.append(frame(CONTINUATION, END_HEADERS, stream, pieces[-1]))
    return b"".join(out)


# -- receiving ----------------------------------------------------------------------------------
def status_of(fields: list[tuple[bytes, bytes]]) -> int:
    """The ``:status`` of decoded response fields (-1 without one or if it is not a number)."""
    for name, value in fields:
        if name == b":status":
            return int(value) if value.isdigit() else -1
    return -1


class _Entries(deque[tuple[bytes, bytes]]):
    """hpack's dynamic table entries, counting every change (hpack's table changes them only
    with these three methods)."""

    changes = 0

    def appendleft(self, entry: tuple[bytes, bytes]) -> None:
        self.changes += 1
        super().appendleft(entry)

    def pop(self, *index: int) -> tuple[bytes, bytes]:
        self.changes += 1
        return super().pop(*index)

    def clear(self) -> None:
        self.changes += 1
        super().clear()


#: Distinct blocks remembered per connection (a new Date value each second adds one).
CACHE_SIZE = 64
#: Table transitions remembered for all the connections of a run.
SHARED_SIZE = 4096
#: A dynamic table: its maximum size and its entries, newest first.
TableState = tuple[int, tuple[tuple[bytes, bytes], ...]]
#: (block, table before) -> (status, table after, its size in bytes).
Transitions = dict[tuple[bytes, TableState], tuple[int, TableState, int]]


class ResponseHeaders:
    """Decodes response header blocks to their ``:status`` with one HPACK decoder per
    connection, remembering the blocks whose decoding leaves the dynamic table as it was.

    Exactness: a block is remembered only together with the table it was decoded in (the cache
    is emptied whenever the table changes), and only if decoding it left that table exactly as
    it was (same maximum size, same entries in the same order); decoding it again in that table
    gives the same status and leaves the table the same, so it can be skipped. A server that
    indexes the same response headers every time (nginx inserts server, date, content-type and
    content-length into the table on every response) reaches such a steady table once the table
    is full: each response evicts exactly the entries it adds again.
    """

    __slots__ = ("decoder", "table", "entries", "cache", "generation", "shared")

    def __init__(self, shared: Transitions | None = None) -> None:
        self.decoder = hpack.Decoder()
        self.table = self.decoder.header_table
        self.entries = self.table.dynamic_entries = _Entries()
        self.cache: dict[bytes, int] = {}
        self.generation = 0
        self.shared: Transitions = {} if shared is None else shared

    def status(self, block: bytes) -> int:
        """The block's ``:status`` (-1 if it has none: a trailer block or a broken response).
        Raises :class:`ProtocolError` (COMPRESSION_ERROR) when it cannot be decoded."""
        entries = self.entries
        if entries.changes == self.generation:
            status = self.cache.get(block)
            if status is not None:
                return status
        else:
            self.cache.clear()
            self.generation = entries.changes
        before = (self.table.maxsize, tuple(entries))
        status = self._decode(block, before)
        if entries.changes != self.generation:
            if (self.table.maxsize, tuple(entries)) != before:  # a new table: not cacheable
                self.cache.clear()
                self.generation = entries.changes
                return status
            entries.changes = self.generation  # the very table it was decoded in
        if len(self.cache) < CACHE_SIZE:
            self.cache[block] = status
        return status

    def fields(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """Every field of the block, decoded (the table changes as the block says). Raises
        :class:`ProtocolError` (COMPRESSION_ERROR) when it cannot be decoded."""
        try:
            return list(self.decoder.decode(block, raw=True))
        except hpack.HPACKError as exc:
            raise ProtocolError(COMPRESSION_ERROR, f"undecodable header block: {exc}") from exc

    def _decode(self, block: bytes, before: TableState) -> int:
        """Decode ``block`` in the table ``before`` (the current one), or replay what decoding
        it did there on another connection of the run (the same server sends every connection
        the same blocks, so every connection's table goes through the same states)."""
        table, shared = self.table, self.shared
        known = shared.get((block, before))
        if known is not None:
            status, after, size = known
            if after != before:
                self.entries.clear()
                self.entries.extend(after[1])
                table._maxsize, table._current_size = after[0], size
            return status
        fields = self.fields(block)
        status = status_of(fields)
        if len(shared) >= SHARED_SIZE:
            shared.clear()
        shared[(block, before)] = (status, (table.maxsize, tuple(self.entries)),
                                   table._current_size)
        return status


__all__ = ["ACK", "CANCEL", "CONTINUATION", "DATA", "DEFAULT_MAX_FRAME", "DEFAULT_WINDOW",
           "ENABLE_PUSH", "END_HEADERS", "END_STREAM", "FLOW_CONTROL_ERROR", "FRAME_HEAD",
           "FRAME_SIZE_ERROR", "GOAWAY", "HEADERS", "INITIAL_WINDOW_SIZE",
           "MAX_CONCURRENT_STREAMS", "MAX_FRAME_SIZE", "MAX_STREAM_ID", "MAX_WINDOW", "NO_ERROR",
           "PADDED", "PING", "PREFACE", "PRIORITY_FLAG", "PROTOCOL_ERROR", "PUSH_PROMISE",
           "RST_STREAM", "SETTINGS", "WINDOW_UPDATE", "GoAway", "ProtocolError", "ResponseHeaders",
           "StreamReset", "Transitions", "encode_stateless", "fallback_warning", "frame", "goaway",
           "header_frames", "request_fields", "request_headers", "rst_stream", "settings_frame",
           "status_of", "window_update"]
