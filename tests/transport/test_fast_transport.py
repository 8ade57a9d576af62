"""The fast transport against real servers: nginx, a raw asyncio server, and the demo server.

Each test counts what the server received and compares it with loadnb's accounting, and where the
two transports must agree (design.md: "Target-URL runs send the same request on every
transport") runs both on the same server. The raw server below records every request it parses
(method, target, headers, body, connection) and answers with scripted bytes, so framing, trickles,
cut bodies and connection handling are exact.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pandas  # noqa: F401 - imported up front: a first import inside a run would stall the loop
import pytest

from loadnb import Run, make_spec
from loadnb import run as run_blocking
from loadnb.results.result import Result
from loadnb.transport import make_transport
from loadnb.transport.base import Request
from loadnb.transport.conn import ConnState
from loadnb.transport.fast import FastTransport
from tests.conftest import until
from tests.nginx import BIG, SMALL, Nginx, find_nginx, make_cert
from tests.servers import ThreadedServer

TRANSPORTS = pytest.mark.parametrize("transport", ["fast", "aiohttp"])
STABLE = {"timeout", "connection refused", "connection reset", "invalid HTTP response",
          "incomplete body", "TLS error"}


# -- a raw, recording HTTP/1.1 server ------------------------------------------------------------
CLOSE = "close"  # step: close the connection after this response
RESET = "reset"  # step: RST the connection now
Step = bytes | float | str  # bytes are written, a float is a pause in seconds


@dataclass
class Seen:
    """One request as the server parsed it."""

    conn: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def get(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None


Respond = Callable[[int, Seen], Iterable[Step]]


def head(status: int = 200, **headers: str | int) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k.replace('_', '-')}: {v}"
                                        for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def fixed(body: bytes = b"OK", **headers: str | int) -> list[Step]:
    return [head(Content_Length=len(body), **headers) + body]


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def chunked(pieces: list[bytes]) -> list[Step]:
    return [head(Transfer_Encoding="chunked"), *map(chunk, pieces), b"0\r\n\r\n"]


class RawServer(ThreadedServer):
    """A recording HTTP/1.1 server on 127.0.0.1 in its own thread (use as a context manager).

    ``respond(n, seen)`` (n = 1, 2, … in parse order) returns the steps of the answer. Like a real
    server it closes after answering a request that says ``Connection: close`` unless
    ``honor_close=False``. ``seen`` (requests), ``connections`` (accepted), ``open`` (still open).
    """

    def __init__(self, respond: Respond = lambda n, s: fixed(), *,
                 honor_close: bool = True) -> None:
        super().__init__("raw-server")
        self.respond = respond
        self.honor_close = honor_close
        self.seen: list[Seen] = []
        self.connections = 0
        self.open = 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def received(self) -> int:
        with self._lock:
            return len(self.seen)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
            self.open += 1
            cid = self.connections
        try:
            while True:
                raw = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = raw[0].split(" ", 2)
                headers = [(k.strip(), v.strip())
                           for k, _, v in (line.partition(":") for line in raw[1:] if line)]
                seen = Seen(cid, method, target, headers, b"")
                length = int(seen.get("content-length") or 0)
                if length:
                    seen.body = await reader.readexactly(length)
                with self._lock:
                    self.seen.append(seen)
                    n = len(self.seen)
                keep = not (self.honor_close and (seen.get("connection") or "").lower() == "close")
                for step in self.respond(n, seen):
                    if isinstance(step, float):
                        await asyncio.sleep(step)
                    elif step == CLOSE:
                        keep = False
                    elif step == RESET:
                        sock = writer.get_extra_info("socket")
                        linger = struct.pack("ii", 1, 0)
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                        writer.transport.abort()
                        return
                    else:
                        assert isinstance(step, bytes)
                        writer.write(step)
                        await writer.drain()
                if not keep:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        finally:
            writer.close()
            with self._lock:
                self.open -= 1


class StallingTLSServer:
    """HTTPS on 127.0.0.1 (self-signed) answering ``200 OK`` to every request, that never answers
    the client's TLS ``close_notify`` (a client waiting for that reply waits forever) and counts
    the connections the client then closes at the TCP level (``tcp_closed``). Threads, not
    asyncio: it must not answer the TLS shutdown the way an asyncio server would."""

    def __init__(self, cert: Path, key: Path) -> None:
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert, key)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.received = self.shutdowns = self.tcp_closed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def __enter__(self) -> StallingTLSServer:
        self._threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _wait_readable(self, fd: int) -> bool:
        while not self._stop.is_set():
            if select.select([fd], [], [], 0.05)[0]:
                return True
        return False

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            with self._ctx.wrap_socket(conn, server_side=True) as tls:
                buf = b""
                while tls.pending() or self._wait_readable(tls.fileno()):
                    data = tls.recv(65536)
                    if not data:  # the client's close_notify: never answered
                        with self._lock:
                            self.shutdowns += 1
                        break
                    buf += data
                    while b"\r\n\r\n" in buf:
                        _, _, buf = buf.partition(b"\r\n\r\n")
                        with self._lock:
                            self.received += 1
                        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                else:
                    return
                if self._wait_readable(tls.fileno()) and os.read(tls.fileno(), 1) == b"":
                    with self._lock:
                        self.tcp_closed += 1
        except (OSError, ssl.SSLError):
            with self._lock:
                self.tcp_closed += 1  # a reset is a close too


async def settle(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Wait (on the loop) until ``predicate()`` holds; False if it never did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def run(url: str, **params: object) -> Result:
    return await Run(make_spec(url, **params)).run()  # type: ignore[arg-type]


def check(result: Result) -> dict[str, object]:
    """The summary, after the accounting identity and the stable-kinds rule are checked."""
    s = result.summary
    assert s["total_requests"] == (s["completed_requests"] + s["failed_requests"]
                                   + s["cancelled_requests"])
    assert set(s["errors"]) <= STABLE | {f"HTTP {c}" for c in range(400, 600)}, s["errors"]
    return s


# -- nginx -----------------------------------------------------------------------------------
@pytest.fixture
def nginx() -> Iterator[Nginx]:
    if find_nginx() is None:
        pytest.skip("nginx is not installed (apt-get install nginx): no real-server check")
    with Nginx() as server:
        yield server


@TRANSPORTS
@pytest.mark.parametrize(("path", "size", "params"), [
    ("static/small.txt", SMALL, {"users": 4, "duration": 0.6}),
    ("static/big.bin", BIG, {"users": 2, "requests": 16}),
], ids=["small", "5MB"])
async def test_content_length_bodies_are_counted_and_match_nginx(
        nginx: Nginx, transport: str, path: str, size: int, params: dict[str, float]) -> None:
    result = await run(nginx.url + path, transport=transport, **params)
    s = check(result)
    logged = nginx.requests(nginx.port)
    assert s["errors"] == {} and s["cancelled_requests"] == 0
    assert len(logged) == s["total_requests"] == s["completed_requests"] > 10
    assert {(r.uri, r.status, r.body_bytes) for r in logged} == {("/" + path, 200, size)}
    assert s["bytes_received"] == size * s["completed_requests"]
    assert len({r.connection for r in logged}) <= params["users"]  # keep-alive reuse


@TRANSPORTS
@pytest.mark.parametrize(("path", "size"), [("chunked/small.txt", SMALL),
                                            ("chunked/big.bin", BIG)], ids=["small", "5MB"])
async def test_chunked_bodies_from_nginx_are_counted(nginx: Nginx, transport: str, path: str,
                                                     size: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", nginx.port)
    writer.write(f"GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    response_head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    assert b"Transfer-Encoding: chunked" in response_head  # so the test means what it says
    result = await run(nginx.url + path, users=2, requests=12, transport=transport)
    s = check(result)
    logged = nginx.requests(nginx.port)
    assert s["completed_requests"] == 12 == len(logged) - 1  # + the probe above
    assert s["bytes_received"] == size * 12


@TRANSPORTS
async def test_keepalive_off_sends_connection_close_and_nginx_count_matches(
        nginx: Nginx, transport: str) -> None:
    result = await run(nginx.url, users=3, requests=60, keepalive=False, transport=transport)
    s = check(result)
    logged = nginx.requests(nginx.port)
    assert s["completed_requests"] == 60 == len(logged)
    assert {r.connection_header.lower() for r in logged} == {"close"}
    assert {r.connection_requests for r in logged} == {1}
    assert len({r.connection for r in logged}) == 60


@pytest.mark.slow
@TRANSPORTS
async def test_server_closing_idle_keepalive_connections_loses_nothing(
        nginx: Nginx, transport: str) -> None:
    """nginx drops a keep-alive connection after 1 s idle; users think for 1.5 s between requests,
    so every pooled connection is closed by the server before it would be used again. Three
    rounds, at about 0, 1.5 and 3 s: the run ends 0.75 s from both the third and a fourth."""
    result = await run(nginx.idle_url, users=3, think_time=1.5, duration=3.75,
                       graceful_stop=0.2, transport=transport)
    s = check(result)
    logged = nginx.requests(nginx.idle_port)
    assert s["total_requests"] == len(logged) == 9
    assert s["completed_requests"] == 9 and s["errors"] == {}
    # The case happened: no connection carried requests more than nginx's 1 s idle limit apart
    # (users a few ms apart may share a fresh connection within a round), one at least per round.
    by_conn: dict[int, list[float]] = {}
    for r in logged:
        by_conn.setdefault(r.connection, []).append(r.time)
    assert all(max(times) - min(times) < 1.0 for times in by_conn.values()), by_conn
    assert len(by_conn) >= 3


@TRANSPORTS
async def test_tls_self_signed_fails_verified_and_works_insecure(nginx: Nginx,
                                                                 transport: str) -> None:
    if nginx.tls_url is None:
        pytest.skip("no openssl CLI to make a self-signed certificate")
    verified = check(await run(nginx.tls_url, users=2, duration=0.4, transport=transport))
    assert verified["failed_requests"] == verified["total_requests"] > 0
    assert verified["errors"] == {"TLS error": verified["failed_requests"]}
    assert nginx.requests(nginx.tls_port) == []
    insecure = check(await run(nginx.tls_url + "static/small.txt", users=2, requests=40,
                               insecure=True, transport=transport))
    logged = nginx.requests(nginx.tls_port)
    assert insecure["completed_requests"] == 40 == len(logged)
    assert insecure["bytes_received"] == 40 * SMALL
    assert len({r.connection for r in logged}) <= 2


@pytest.mark.parametrize("path", ["static/big.bin", "chunked/big.bin", "tls"])
def test_fast_on_uvloop_counts_match_nginx(nginx: Nginx, path: str) -> None:
    """``loadnb.run`` from a script runs on uvloop, whose transports differ from asyncio's
    (https too: ``aclose`` waits for TLS shutdowns before the loop closes)."""
    pytest.importorskip("uvloop")
    if path == "tls":
        if nginx.tls_url is None:
            pytest.skip("no openssl CLI to make a self-signed certificate")
        url, port, path = nginx.tls_url + "static/big.bin", nginx.tls_port, "static/big.bin"
        result = run_blocking(url, users=2, requests=10, transport="fast", insecure=True)
    else:
        port = nginx.port
        result = run_blocking(nginx.url + path, users=2, requests=10, transport="fast")
    s = check(result)
    assert result.transport == "fast"
    assert s["completed_requests"] == 10 == len(nginx.requests(port))
    assert s["bytes_received"] == 10 * BIG


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    made = make_cert(tmp_path)
    if made is None:
        pytest.skip("no openssl CLI to make a self-signed certificate")
    return made


@TRANSPORTS
async def test_closing_the_pool_closes_tls_connections_even_if_the_peer_stalls(
        cert: tuple[Path, Path], transport: str) -> None:
    """After ``aclose()`` no connection is left open, even one whose TLS shutdown the server never
    answers: the run is over, and the loop may be closed next (uvloop then fails with EBUSY)."""
    with StallingTLSServer(*cert) as server:
        spec = make_spec(server.url, users=2, insecure=True, transport=transport)
        pool = make_transport(spec.transport_options())
        request = Request.of(spec.transport_options())
        conns = []
        try:
            assert await asyncio.gather(pool.send(request), pool.send(request)) == [(200, 2)] * 2
            conns = list(pool.idle) if isinstance(pool, FastTransport) else []
            await pool.aclose()
            assert await settle(lambda: server.tcp_closed == 2, 0.5), (
                server.shutdowns, server.tcp_closed)
        finally:
            for conn in conns:  # don't leave them to the next test (fast transport only)
                if conn.state is not ConnState.CLOSED and conn.transport is not None:
                    conn.transport.abort()
            await asyncio.sleep(0.01)


# -- framing and connections (raw server) -----------------------------------------------------
PIECES = [b"a", b"b" * 10, b"c" * 4096, b"d" * 70_000, b"e" * 3]


@TRANSPORTS
async def test_chunked_bodies_are_complete_and_counted(transport: str) -> None:
    with RawServer(lambda n, s: chunked(PIECES)) as server:
        s = check(await run(server.url(), users=2, requests=30, transport=transport))
    assert s["completed_requests"] == 30 == server.received
    assert s["bytes_received"] == 30 * sum(map(len, PIECES))
    assert server.connections <= 2


CUTS = {
    "chunked, inside a chunk": [head(Transfer_Encoding="chunked"), chunk(b"x" * 100),
                                b"400\r\n" + b"y" * 10, CLOSE],
    "chunked, no last chunk": [head(Transfer_Encoding="chunked"), chunk(b"x" * 100), CLOSE],
    "content-length, short": [head(Content_Length=1000) + b"z" * 400, CLOSE],
}


@TRANSPORTS
@pytest.mark.parametrize("cut", list(CUTS))
async def test_a_body_cut_short_is_an_incomplete_body(transport: str, cut: str) -> None:
    with RawServer(lambda n, s: CUTS[cut]) as server:
        s = check(await run(server.url(), users=2, requests=20, transport=transport))
    assert s["errors"] == {"incomplete body": 20} and s["completed_requests"] == 0
    assert server.received == 20 == server.connections


@TRANSPORTS
async def test_connection_close_on_every_response(transport: str) -> None:
    with RawServer(lambda n, s: [*fixed(b"hello", Connection="close"), CLOSE]) as server:
        s = check(await run(server.url(), users=4, requests=80, transport=transport))
    assert s["completed_requests"] == 80 == server.received == server.connections
    assert s["bytes_received"] == 80 * 5 and s["errors"] == {}


@TRANSPORTS
async def test_keepalive_off_uses_a_fresh_connection_even_if_the_server_keeps_it(
        transport: str) -> None:
    """keepalive=False: the client closes after each response, whatever the server says."""
    with RawServer(honor_close=False) as server:
        s = check(await run(server.url(), users=2, requests=30, keepalive=False,
                            transport=transport))
        await settle(lambda: server.open == 0, 1.0)
    assert s["completed_requests"] == 30 == server.received
    assert {seen.get("connection") for seen in server.seen} == {"close"}
    assert server.connections == 30


@TRANSPORTS
@pytest.mark.parametrize("interim", [b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload",
                                     b"HTTP/1.1 100 Continue"], ids=["103", "100"])
async def test_interim_1xx_responses_are_skipped(transport: str, interim: bytes) -> None:
    """A 1xx is not the response: the final one follows on the same connection."""
    with RawServer(lambda n, s: [interim + b"\r\n\r\n", 0.005, *fixed(b"hello")]) as server:
        s = check(await run(server.url(), users=2, requests=20, transport=transport))
    assert s["status_codes"] == {"200": 20} == {"200": server.received}
    assert s["bytes_received"] == 20 * 5


# -- slow and large bodies --------------------------------------------------------------------
def late_tail(n: int, seen: Seen) -> list[Step]:
    """5 MiB: all but the last KiB at once, then the last KiB 0.3 s later."""
    return [head(Content_Length=BIG) + bytes(BIG - 1024), 0.3, bytes(1024)]


def trickle(n: int, seen: Seen) -> list[Step]:
    """A 10-byte body, one byte every 50 ms (0.45 s from head to last byte)."""
    return [head(Content_Length=10) + b"0"] + [s for _ in range(9) for s in (0.05, b"1")]


@TRANSPORTS
@pytest.mark.parametrize(("respond", "size", "floor_ms"), [(late_tail, BIG, 300),
                                                          (trickle, 10, 450)],
                         ids=["5MB-late-tail", "trickle"])
async def test_latency_covers_the_last_body_byte(transport: str, respond: Respond, size: int,
                                                 floor_ms: float) -> None:
    with RawServer(respond) as server:
        s = check(await run(server.url(), users=2, requests=4, transport=transport))
    assert s["completed_requests"] == 4 == server.received
    assert s["bytes_received"] == 4 * size
    latency = s["latency_ms"]
    assert isinstance(latency, dict)
    assert floor_ms * 0.98 <= latency["p50"] <= latency["max"] < floor_ms + 2000


@TRANSPORTS
async def test_a_trickle_slower_than_the_timeout_is_a_timeout(transport: str) -> None:
    """Every byte comes well within the timeout, the whole body does not: total timeout."""
    def slow(n: int, seen: Seen) -> list[Step]:
        return [head(Content_Length=20) + b"0"] + [s for _ in range(19) for s in (0.05, b"1")]

    with RawServer(slow) as server:
        t0 = time.perf_counter()
        s = check(await run(server.url(), users=2, duration=0.7, timeout=0.3,
                            transport=transport))
        took = time.perf_counter() - t0
    assert s["errors"] == {"timeout": s["failed_requests"]} and s["failed_requests"] >= 4
    assert s["completed_requests"] == 0 and s["total_requests"] == server.received
    assert took < 5  # the bound only catches a hang


# -- the request on the wire ------------------------------------------------------------------
@TRANSPORTS
async def test_no_accept_encoding_unless_given_and_raw_body_bytes_counted(
        transport: str) -> None:
    gz = b"\x1f\x8b" + bytes(98)  # not decompressed: bytes_received is what came on the wire
    with RawServer(lambda n, s: fixed(gz, Content_Encoding="gzip")) as server:
        plain = check(await run(server.url(), users=1, requests=3, transport=transport))
        given = check(await run(server.url(), users=1, requests=3, transport=transport,
                                headers={"Accept-Encoding": "gzip"}))
    assert [s.get("accept-encoding") for s in server.seen] == [None] * 3 + ["gzip"] * 3
    assert plain["bytes_received"] == given["bytes_received"] == 3 * len(gz)


POST = {"method": "POST", "body": b'{"name": "apple", "n": 1}',
        "headers": {"X-Token": "t-123", "Content-Type": "application/json", "X-Empty": ""}}


async def _seen_on_both(**params: object) -> dict[str, list[Seen]]:
    """The requests one server received from two requests of each transport, by transport."""
    out: dict[str, list[Seen]] = {}
    with RawServer() as server:
        for transport in ("fast", "aiohttp"):
            before = server.received
            s = check(await run(server.url("/api/items?x=1&y=%20"), users=1, requests=2,
                                transport=transport, **params))
            assert s["completed_requests"] == 2 == server.received - before
            out[transport] = server.seen[before:]
        assert {seen.get("host") for seen in server.seen} == {f"127.0.0.1:{server.port}"}
    return out


async def test_post_with_body_and_headers_is_the_same_request_on_both_transports() -> None:
    seen = await _seen_on_both(**POST)
    for request in seen["fast"] + seen["aiohttp"]:
        assert (request.method, request.target, request.body) == (
            "POST", "/api/items?x=1&y=%20", POST["body"])
        assert request.get("content-length") == str(len(POST["body"]))
        for name, value in POST["headers"].items():
            assert request.get(name) == value
        assert request.get("accept-encoding") is None
        assert request.get("user-agent") == seen["fast"][0].get("user-agent")
    assert str(seen["fast"][0].get("user-agent")).startswith("loadnb/")


@pytest.mark.parametrize("params", [
    {}, POST, {"method": "PUT", "body": b"abc"}, {"method": "DELETE"},
], ids=["GET", "POST-typed", "PUT-untyped", "DELETE"])
async def test_both_transports_send_exactly_the_same_headers(params: dict[str, object]) -> None:
    """Same request on every transport: the user's headers, and no extra ones on either."""
    seen = await _seen_on_both(**params)
    fast, aio = ([sorted((k.lower(), v) for k, v in r.headers) for r in seen[t]]
                 for t in ("fast", "aiohttp"))
    assert fast == aio


# -- the demo server's own count ---------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    from loadnb import demo

    url = demo.start_sync()
    try:
        yield url
    finally:
        demo.stop_sync(url)


@TRANSPORTS
async def test_counts_agree_with_the_demo_servers_stats(demo_url: str, transport: str) -> None:
    async with aiohttp.ClientSession() as session:
        await (await session.post(demo_url + "stats/reset")).read()
        ok = check(await run(demo_url + "bytes/1000", users=4, requests=200,
                             transport=transport))
        bad = check(await run(demo_url + "status/503", users=2, duration=0.4,
                              transport=transport))
        async with session.get(demo_url + "stats") as resp:
            stats = await resp.json()
    assert stats["by_path"] == {"/bytes/1000": 200, "/status/503": bad["total_requests"]}
    assert stats["responses"] == {"200": ok["completed_requests"], "503": bad["failed_requests"]}
    assert ok["completed_requests"] == 200 and ok["bytes_received"] == 200 * 1000
    assert bad["errors"] == {"HTTP 503": bad["failed_requests"]} and bad["failed_requests"] > 10
    assert stats["requests"] == 200 + bad["total_requests"]


# -- stopping ---------------------------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts fds in /proc/self/fd")
@TRANSPORTS
async def test_stop_in_the_middle_of_a_slow_body_cancels_and_leaks_nothing(
        transport: str) -> None:
    sent: dict[int, int] = {}  # body bytes written, per request (the server's thread counts)

    def endless(n: int, seen: Seen) -> Iterator[Step]:
        yield head(Content_Length=10_000) + b"x"
        for _ in range(200):
            yield 0.02
            sent[n] = sent.get(n, 0) + 1
            yield b"x"

    with RawServer(endless) as server:
        baseline = open_fds()
        run_ = Run(make_spec(server.url(), users=4, duration=30, transport=transport))
        run_.start()
        assert await settle(lambda: server.received == 4)
        await until(lambda: len(sent) == 4 and min(sent.values()) >= 3, 5,
                    what="every body under way")  # in the middle of the bodies
        t0 = time.perf_counter()
        run_.stop()
        result = await run_.wait()
        took = time.perf_counter() - t0
        s = check(result)
        assert s["cancelled_requests"] == 4 == s["total_requests"] == server.received
        assert s["completed_requests"] == s["failed_requests"] == 0
        # cancelled at once (the counts), not after the bodies' 4 s; the bound catches a hang
        assert took < 3 and result.state == "stopped"
        assert await settle(lambda: server.open == 0), "the client did not close its connections"
        assert await settle(lambda: open_fds() == baseline), (open_fds(), baseline)


async def test_a_pool_waiter_cancelled_as_a_connection_is_handed_to_it() -> None:
    """connections < concurrency: a request waiting for a pooled connection is cancelled (stop)
    after the connection is handed to it but before it resumes. The cancel must win at once, and
    the connection must go back to the pool: neither used for a request nobody waits for, nor
    lost with its pool slot."""
    with RawServer() as server:
        spec = make_spec(server.url(), users=2, connections=1, transport="fast")
        transport = FastTransport(spec.transport_options())
        request = Request.of(spec.transport_options())
        try:
            async def first_then_cancel_second() -> tuple[int, int]:
                answer = await transport.send(request)  # _release hands the connection over...
                second.cancel()  # ...and this runs in the same step, before `second` resumes
                return answer

            first = asyncio.ensure_future(first_then_cancel_second())
            await asyncio.sleep(0)  # `first` takes the only pool slot
            second = asyncio.ensure_future(transport.send(request))
            assert await first == (200, 2)
            t0 = time.perf_counter()
            outcome = (await asyncio.gather(second, return_exceptions=True))[0]
            assert isinstance(outcome, asyncio.CancelledError), outcome
            assert time.perf_counter() - t0 < 2  # (a hang; the count below is the point)
            assert server.received == 1  # the cancelled request was not sent
            assert await asyncio.wait_for(transport.send(request), 1.0) == (200, 2)  # not lost
            assert server.received == 2 and server.connections == 1
        finally:
            await transport.aclose()

