"""The request on the wire is the same on both transports; counts agree with the demo server's."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pandas  # noqa: F401 - imported up front: a first import inside a run would stall the loop
import pytest

from tests.transport.fast_helpers import TRANSPORTS, RawServer, Seen, check, fixed, run


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
