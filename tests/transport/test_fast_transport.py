"""The fast transport against a real nginx, both transports side by side, and a TLS staller.

Each test counts what the server received and compares it with loadnb's accounting, and where the
two transports must agree (design.md: "Target-URL runs send the same request on every
transport") runs both on the same server. The raw recording server's tests are in
test_fast_framing.py, test_fast_wire.py and test_fast_stop.py; the servers in fast_helpers.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pandas  # noqa: F401 - imported up front: a first import inside a run would stall the loop
import pytest

from loadnb import make_spec
from loadnb import run as run_blocking
from loadnb.transport import make_transport
from loadnb.transport.base import Request
from loadnb.transport.conn import ConnState
from loadnb.transport.fast import FastTransport
from tests.nginx import BIG, SMALL, Nginx, find_nginx, make_cert
from tests.transport.fast_helpers import TRANSPORTS, StallingTLSServer, check, run, settle


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
