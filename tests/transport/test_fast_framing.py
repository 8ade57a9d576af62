"""The fast transport's framing, connections and slow bodies, against the raw recording server."""

from __future__ import annotations

import time

import pandas  # noqa: F401 - imported up front: a first import inside a run would stall the loop
import pytest

from tests.nginx import BIG
from tests.transport.fast_helpers import (
    CLOSE,
    TRANSPORTS,
    RawServer,
    Respond,
    Seen,
    Step,
    check,
    chunk,
    chunked,
    fixed,
    head,
    run,
    settle,
)

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
