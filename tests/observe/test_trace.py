"""W3C trace context: the headers a real server receives (through aiohttp, and as raw header
lines on a socket, as the fast transport sends them) are valid, with one trace id per iteration
and one span id per request; the k-slowest keeper against a brute-force sort."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from loadnb.observe import trace
from loadnb.observe.trace import Slow, Slowest, Tracer, merge_slowest, parse_traceparent

Seen = list[tuple[str, str, int, str]]


@pytest.fixture
async def checker() -> AsyncIterator[tuple[str, Seen]]:
    """A server that checks each request's trace headers: 200 and kept when valid, 400 if not."""
    seen: Seen = []

    async def handle(request: web.Request) -> web.Response:
        parsed = parse_traceparent(request.headers.get("traceparent", ""))
        if parsed is None:
            return web.Response(status=400, text="bad traceparent")
        seen.append((*parsed, request.headers.get("tracestate", "")))
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/", seen
    await runner.cleanup()


def _check(seen: Seen, iterations: int, per_iteration: int, run_id: str) -> None:
    assert len(seen) == iterations * per_iteration
    traces: dict[str, set[str]] = {}
    for trace_id, span_id, flags, state in seen:
        assert flags == 1 and state == f"loadnb={run_id}"
        traces.setdefault(trace_id, set()).add(span_id)
    assert len(traces) == iterations
    assert all(len(spans) == per_iteration for spans in traces.values())


async def test_a_server_sees_valid_headers_through_aiohttp(checker: tuple[str, Seen]) -> None:
    url, seen = checker
    tracer = Tracer("run-42")
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            ctx = tracer.new_trace()
            for _ in range(4):
                async with session.get(url, headers=tracer.headers(ctx)) as resp:
                    assert resp.status == 200
    _check(seen, 3, 4, "run-42")


async def test_a_server_sees_valid_header_lines_on_a_raw_connection(
        checker: tuple[str, Seen]) -> None:
    url, seen = checker
    host = url.split("/")[2]
    tracer = Tracer("0a1b2c")
    reader, writer = await asyncio.open_connection(*host.split(":"))
    try:
        for _ in range(2):
            ctx = tracer.new_trace()
            for _ in range(3):
                writer.write(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
                             + tracer.header_bytes(ctx) + b"\r\n")
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()
    _check(seen, 2, 3, "0a1b2c")


def test_ids_are_unique_lower_hex_and_never_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    tracer = Tracer("r")
    traces = [tracer.new_trace().trace_id for _ in range(1500)]  # across several batches
    spans = [tracer.span_id() for _ in range(1500)]
    assert len(set(traces)) == 1500 and len(set(spans)) == 1500
    assert all(len(t) == 32 and t == t.lower() and int(t, 16) for t in traces)
    assert all(len(s) == 16 and int(s, 16) for s in spans)
    real = trace.os.urandom
    calls = iter([lambda n: bytes(n)] + [real] * 10)  # a first batch of zeros is skipped
    monkeypatch.setattr(trace.os, "urandom", lambda n: next(calls)(n))
    assert int(Tracer("r").new_trace().trace_id, 16) != 0


def test_header_bytes_and_headers_agree() -> None:
    tracer = Tracer("run")
    ctx = tracer.new_trace()
    lines = tracer.header_bytes(ctx).decode().split("\r\n")
    assert lines[2] == "" and lines[1] == "tracestate: loadnb=run"
    name, value = lines[0].split(": ")
    assert name == "traceparent"
    assert parse_traceparent(value) == (ctx.trace_id, value[36:52], 1)
    assert parse_traceparent(tracer.headers(ctx)["traceparent"])[0] == ctx.trace_id  # type: ignore[index]


@pytest.mark.parametrize("value", [
    "", "00-" + "0" * 32 + "-" + "1" * 16 + "-01", "00-" + "1" * 32 + "-" + "0" * 16 + "-01",
    "01-" + "1" * 32 + "-" + "1" * 16 + "-01", "00-" + "A" * 32 + "-" + "1" * 16 + "-01",
    "00-" + "1" * 31 + "-" + "1" * 16 + "-01", "00-" + "1" * 32 + "-" + "1" * 16 + "-01-extra",
])
def test_invalid_traceparents(value: str) -> None:
    assert parse_traceparent(value) is None


@pytest.mark.parametrize("run_id", ["", "a,b", "a=b", "x" * 257, "caf\u00e9", "tab\there "])
def test_run_ids_that_cannot_go_in_tracestate(run_id: str) -> None:
    with pytest.raises(ValueError, match="tracestate"):
        Tracer(run_id)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.lists(st.tuples(st.floats(0, 10), st.sampled_from("abc")),
                                   max_size=60))
def test_slowest_keeps_the_k_slowest(k: int, offers: list[tuple[float, str]]) -> None:
    keeper = Slowest(k, origin=100.0)
    for i, (latency, name) in enumerate(offers):
        if latency > keeper.floor:  # the hot path's guard
            keeper.offer(latency, name, f"{i:032x}", 100.0 + i)
    got = keeper.swap()
    want = sorted((lat for lat, _ in offers), reverse=True)[:k]
    assert [s.latency for s in got] == want
    for s in got:
        i = int(s.trace_id, 16)
        assert s.elapsed == i and offers[i] == (s.latency, s.name)
    assert keeper.swap() == [] and keeper.floor == -math.inf


def test_floor_and_merge() -> None:
    keeper = Slowest(2)
    keeper.offer(1.0, "a", "t1", 1.0)
    assert keeper.floor == -math.inf
    keeper.offer(3.0, "b", "t2", 2.0)
    assert keeper.floor == 1.0
    keeper.offer(2.0, "c", "t3", 3.0)
    assert keeper.floor == 2.0
    mine = keeper.swap()
    assert mine == [Slow(2.0, "b", 3.0, "t2"), Slow(3.0, "c", 2.0, "t3")]
    theirs = [Slow(5.0, "d", 2.5, "t4")]
    assert [s.trace_id for s in merge_slowest([mine, theirs], 2)] == ["t2", "t4"]
    with pytest.raises(ValueError):
        Slowest(0)
