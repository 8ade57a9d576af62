"""Fast unit tests of the HTTP/2 framer: one H2Conn fed scripted server bytes, no socket.

The connection writes into a fake transport; the server side is built with ``h2wire.frame`` and
an ``hpack.Encoder`` (with indexing, so the dynamic table moves), and what the client wrote is
parsed back frame by frame.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import hpack
import pytest

from loadnb.transport.base import TransportOptions
from loadnb.transport.h2conn import H2Conn
from loadnb.transport.h2streams import Chain
from loadnb.transport.h2wire import (
    ACK,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS,
    PADDED,
    PING,
    PREFACE,
    PRIORITY_FLAG,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    ResponseHeaders,
    encode_stateless,
    frame,
    request_headers,
    settings_frame,
)
from loadnb.transport.tls import ConnectRule, parse_connect_to, route


class FakeTransport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Owner:
    closing = False
    waiting = 0

    def __init__(self) -> None:
        self.retired = 0

    def retire(self, conn: Any) -> None:
        self.retired += 1

    def lost(self, conn: Any) -> None:
        pass


class Recorder:
    """A driver that wants ``wanted`` requests in all and records how each ended."""

    def __init__(self, wanted: int = 1) -> None:
        self.left = wanted
        self.ends: list[tuple[int, int] | str] = []
        self.evidence = ""

    def next(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def done(self, status: int, nbytes: int, more: bool) -> bool:
        self.ends.append((status, nbytes))
        return more and self.next()

    def failed(self, exc: BaseException) -> None:
        self.ends.append(getattr(exc, "kind", type(exc).__name__))


def frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """``(type, flags, stream, payload)`` of each frame the client wrote (after the preface)."""
    assert data.startswith(PREFACE)
    out, pos = [], len(PREFACE)
    while pos < len(data):
        hi, lo, ftype, flags, sid = struct.unpack_from(">BHBBI", data, pos)
        n = hi << 16 | lo
        out.append((ftype, flags, sid & 0x7FFFFFFF, bytes(data[pos + 9:pos + 9 + n])))
        pos += 9 + n
    return out


#: each connection's request (block, body), as its transport would give its chains
REQUESTS: dict[int, tuple[bytes, bytes]] = {}


async def make(body: bytes = b"", want: int = 10, settings: dict[int, int] | None = None,
               **kwargs: Any) -> tuple[H2Conn, FakeTransport]:
    options = TransportOptions("http://127.0.0.1:9/x", method="POST" if body else "GET",
                               body=body or None)
    conn = H2Conn(Owner(), want=want, timeout=10.0, **kwargs)
    REQUESTS[id(conn)] = (encode_stateless(request_headers(options)), body)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    if settings is not None:  # the server's preface (streams open once it is in)
        feed(conn, settings_frame(settings))
    return conn, transport


def feed(conn: H2Conn, data: bytes, step: int | None = None) -> None:
    step = step or len(data) or 1
    for i in range(0, len(data), step):
        piece = data[i:i + step]
        buf = conn.get_buffer(len(piece))
        buf[:len(piece)] = piece
        conn.buffer_updated(len(piece))


def start(conn: H2Conn, driver: Recorder) -> Chain:
    assert driver.next()
    chain = Chain(driver, asyncio.get_running_loop().create_future(), 1e18,
                  *REQUESTS[id(conn)])
    conn.begin(chain)
    conn.flush()
    return chain


ENC = hpack.Encoder()


def head(sid: int, status: int, end: bool = False, **extra: str) -> bytes:
    block = ENC.encode([(":status", str(status)), *extra.items()])
    return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), sid, block)


async def test_a_response_split_at_every_byte_is_read_whole() -> None:
    conn, transport = await make(settings={})
    driver = Recorder()
    start(conn, driver)
    padded = bytes([3]) + b"hello" + b"\0\0\0"
    server = (settings_frame({}) + head(1, 200, server="t")
              + frame(DATA, PADDED, 1, padded) + frame(DATA, END_STREAM, 1, b"!!"))
    feed(conn, server, step=1)
    assert driver.ends == [(200, 7)]
    sent = frames(bytes(transport.written))
    assert (SETTINGS, ACK, 0, b"") in sent  # the server's SETTINGS acked
    assert [f for f in sent if f[0] == HEADERS][0][1] == END_HEADERS | END_STREAM


async def test_continuation_padding_and_priority_in_a_header_block() -> None:
    conn, _ = await make(settings={})
    driver = Recorder()
    start(conn, driver)
    block = ENC.encode([(":status", "404"), ("x-long", "v" * 100)])
    first = bytes([2]) + b"\0\0\0\0\x10" + block[:10] + b"\0\0"  # pad 2, priority 5 bytes
    server = (frame(HEADERS, PADDED | PRIORITY_FLAG, 1, first)
              + frame(CONTINUATION, 0, 1, block[10:50])
              + frame(CONTINUATION, END_HEADERS, 1, block[50:])
              + frame(DATA, END_STREAM, 1, b"not here"))
    feed(conn, server, step=7)
    assert driver.ends == [(404, 8)]
    assert driver.evidence == "HTTP/2 404\nnot here"


async def test_interim_and_trailers() -> None:
    conn, _ = await make(settings={})
    driver = Recorder()
    start(conn, driver)
    trailer = frame(HEADERS, END_HEADERS | END_STREAM, 1, ENC.encode([("x-checksum", "1")]))
    feed(conn, head(1, 103) + head(1, 200) + frame(DATA, 0, 1, b"abc") + trailer)
    assert driver.ends == [(200, 3)]


async def test_max_concurrent_streams_queues_the_rest_on_the_connection() -> None:
    conn, transport = await make(settings={MAX_CONCURRENT_STREAMS: 1})
    drivers = [Recorder() for _ in range(3)]
    for d in drivers:
        start(conn, d)
    heads = lambda: [f for f in frames(bytes(transport.written)) if f[0] == HEADERS]  # noqa: E731
    assert [f[2] for f in heads()] == [1]
    feed(conn, head(1, 200, end=True))
    assert [f[2] for f in heads()] == [1, 3]
    feed(conn, head(3, 200, end=True))
    feed(conn, head(5, 201, end=True))
    assert [d.ends for d in drivers] == [[(200, 0)], [(200, 0)], [(201, 0)]]


async def test_a_request_body_waits_for_the_servers_windows() -> None:
    body = bytes(range(256)) * 400  # 102,400 bytes
    conn, transport = await make(body, settings={})
    start(conn, Recorder())
    sent = [f for f in frames(bytes(transport.written)) if f[0] == DATA]
    assert sum(len(f[3]) for f in sent) == 65535  # the default windows, no more
    assert max(len(f[3]) for f in sent) <= 16384 and not any(f[1] & END_STREAM for f in sent)
    transport.written.clear()
    transport.written += PREFACE
    feed(conn, frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 20000)))  # connection only
    assert frames(bytes(transport.written)) == []  # the stream window is still 0
    # a larger initial stream window applies to the open stream too (RFC 9113 6.9.2)
    feed(conn, settings_frame({INITIAL_WINDOW_SIZE: 65535 + 50000}))
    feed(conn, frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 50000)))
    rest = [f for f in frames(bytes(transport.written)) if f[0] == DATA]
    assert b"".join(f[3] for f in sent + rest) == body
    assert rest[-1][1] & END_STREAM


async def test_no_stream_opens_before_the_servers_settings() -> None:
    conn, transport = await make()
    driver = Recorder()
    start(conn, driver)
    assert not [f for f in frames(bytes(transport.written)) if f[0] == HEADERS]
    feed(conn, settings_frame({MAX_CONCURRENT_STREAMS: 5}))
    assert [f[2] for f in frames(bytes(transport.written)) if f[0] == HEADERS] == [1]


async def test_ping_is_acked_with_its_payload() -> None:
    conn, transport = await make(settings={})
    feed(conn, frame(PING, 0, 0, b"12345678"))
    assert (PING, ACK, 0, b"12345678") in frames(bytes(transport.written))


async def test_rst_stream_and_goaway_fail_streams_with_their_kinds() -> None:
    conn, transport = await make(settings={})
    drivers = [Recorder() for _ in range(4)]
    chains = [start(conn, d) for d in drivers]
    feed(conn, frame(RST_STREAM, 0, 3, struct.pack(">I", 7))
         + frame(GOAWAY, 0, 0, struct.pack(">II", 5, 0)) + head(1, 200, end=True)
         + head(5, 200, end=True))
    assert [d.ends for d in drivers] == [[(200, 0)], ["RST_STREAM REFUSED_STREAM"],
                                         [(200, 0)], ["GOAWAY NO_ERROR"]]
    assert all(c.waiter.done() for c in chains) and conn.draining
    assert transport.closing  # drained: closed once its streams ended


async def test_a_next_request_made_in_the_read_that_says_goaway_is_moved_not_failed() -> None:
    conn, transport = await make(settings={})
    driver = Recorder(wanted=5)
    chain = start(conn, driver)
    feed(conn, head(1, 200, end=True) + frame(GOAWAY, 0, 0, struct.pack(">II", 1, 0)))
    assert driver.ends == [(200, 0)]  # the second request was started, then moved: never sent
    assert chain.waiter.result() is True
    assert [f[2] for f in frames(bytes(transport.written)) if f[0] == HEADERS] == [1]


@pytest.mark.parametrize(("server", "kind"), [
    (frame(DATA, 0, 2, b"x"), "HTTP/2 PROTOCOL_ERROR"),  # a stream the client never opened
    (struct.pack(">BHBBI", 0, 20000, DATA, 0, 1) + b"x" * 20000, "HTTP/2 FRAME_SIZE_ERROR"),
    (frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2**31 - 1)), "HTTP/2 FLOW_CONTROL_ERROR"),
    (frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff"), "HTTP/2 COMPRESSION_ERROR"),
    (frame(SETTINGS, 0, 0, b"\0\0\0"), "HTTP/2 FRAME_SIZE_ERROR"),
    (frame(CONTINUATION, END_HEADERS, 1, b""), "HTTP/2 PROTOCOL_ERROR"),
])
async def test_protocol_errors_fail_every_stream_and_say_goaway(server: bytes,
                                                                kind: str) -> None:
    conn, transport = await make(settings={})
    drivers = [Recorder(), Recorder()]
    for d in drivers:
        start(conn, d)
    feed(conn, server)
    assert [d.ends for d in drivers] == [[kind], [kind]]
    goaways = [f for f in frames(bytes(transport.written)) if f[0] == GOAWAY]
    assert goaways and goaways[0][3][4:8] != b"\0\0\0\0" and transport.closing


async def test_stream_ids_used_up_retire_the_connection() -> None:
    conn, _ = await make(max_stream_id=5, settings={})
    owner = conn.owner
    assert isinstance(owner, Owner)
    for _ in range(3):
        start(conn, Recorder())
    assert conn.draining and owner.retired == 1
    moved = start(conn, Recorder())
    assert moved.waiter.result() is True  # never sent here: the transport sends it elsewhere


def test_hpack_cache_is_exact_while_the_dynamic_table_changes() -> None:
    """Blocks encoded with indexing (references into the dynamic table) decode the same through
    the cache as through a fresh decoder, while the table fills, cycles and is resized; two
    connections sharing the transitions stay exact too."""
    enc, reference = hpack.Encoder(), hpack.Decoder()
    shared: dict[Any, Any] = {}
    a, b = ResponseHeaders(shared), ResponseHeaders(shared)
    blocks = []
    for i in range(400):
        if i == 150:
            enc.header_table_size = 256  # a size update inside the next block
        status = ("200", "404", "503")[i % 3 if i % 50 < 25 else 0]
        date = f"day {i // 40}"
        blocks.append(enc.encode([(":status", status), ("server", "t"), ("date", date),
                                  ("content-length", str(i % 7))]))
    for block in blocks:
        want = int(dict(reference.decode(block, raw=True))[b":status"])
        assert a.status(block) == want
        assert b.status(block) == want
    assert a.entries.changes > 0


def _literal_indexed(name: bytes, value: bytes) -> bytes:
    """'Literal with incremental indexing, new name' (what nginx sends for every response)."""
    return b"\x40" + bytes([len(name)]) + name + bytes([len(value)]) + value


def test_hpack_cache_hits_when_every_response_is_indexed_again_like_nginx() -> None:
    """nginx inserts its response headers into the table on every response: once the table is
    full each response evicts what it adds again, and the cache serves it (exactly)."""
    reference, cached = hpack.Decoder(), ResponseHeaders()
    decodes = 0
    real = cached.decoder.decode

    def counting(block: bytes, raw: bool = False) -> Any:
        nonlocal decodes
        decodes += 1
        return real(block, raw=raw)

    cached.decoder.decode = counting  # type: ignore[method-assign]
    for i in range(1000):
        status = b"\x88" if i % 10 else b"\x8d"  # static :status 200, 404
        block = status + b"".join(_literal_indexed(n, v) for n, v in (
            (b"server", b"nginx"), (b"date", b"second %d" % (i // 250)),
            (b"content-length", b"2")))
        want = int(dict(reference.decode(block, raw=True))[b":status"])
        assert cached.status(block) == want
    assert list(cached.entries) == list(reference.header_table.dynamic_entries)
    assert decodes < 200  # the table fills, then every response is a hit until the date moves


def test_request_headers_are_those_of_http11_without_connection_headers() -> None:
    options = TransportOptions("https://example.test:8443/p?q=1", method="POST", body=b"abc",
                               headers={"Host": "other.test", "Connection": "close",
                                        "X-Token": "t"})
    fields = dict(request_headers(options))
    assert fields[b":authority"] == b"other.test" and fields[b":path"] == b"/p?q=1"
    assert fields[b"content-length"] == b"3" and b"connection" not in fields
    assert fields[b"x-token"] == b"t" and fields[b":scheme"] == b"https"


def test_connect_to_parses_curls_form_and_routes() -> None:
    assert parse_connect_to("svc.test:443:127.0.0.1:8443") == ConnectRule(
        "svc.test", 443, "127.0.0.1", 8443)
    assert parse_connect_to("::[::1]:") == ConnectRule("", None, "::1", None)
    rules = [parse_connect_to("svc.test:443:127.0.0.1:8443"), parse_connect_to("::[::1]:")]
    assert route("SVC.test", 443, rules) == ("127.0.0.1", 8443)
    assert route("other", 80, rules) == ("::1", 80)
    for bad in ("svc.test:443:127.0.0.1", "a:b:c:d", "a:1:b:70000", "[::1:1:a:2"):
        with pytest.raises(ValueError, match="connect_to"):
            parse_connect_to(bad)
