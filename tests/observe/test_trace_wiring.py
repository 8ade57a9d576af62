"""``trace=True`` on real requests: a server that checks headers sees a valid ``traceparent``
on every request (a new span each), one trace id per iteration, the run id in ``tracestate``;
the slowest requests' trace ids are in ``result.slowest`` and in the report, linked."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from loadnb.observe.trace import parse_traceparent
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec


@pytest.fixture
async def checking() -> AsyncIterator[tuple[str, list[tuple[str, str]]]]:
    """A server that keeps each request's traceparent and tracestate (empty when missing)."""
    seen: list[tuple[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.headers.get("traceparent", ""),
                     request.headers.get("tracestate", "")))
        if request.path == "/slow":
            await asyncio.sleep(0.02)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/", seen
    finally:
        await runner.cleanup()


def _valid(seen: list[tuple[str, str]], run_id: str) -> list[tuple[str, str, int]]:
    parsed = [parse_traceparent(tp) for tp, _ in seen]
    assert all(p is not None and p[2] & 1 for p in parsed), seen[:3]
    assert {state for _, state in seen} == {f"loadnb={run_id}"}
    return [p for p in parsed if p is not None]


async def test_every_request_of_a_url_run_has_its_own_trace(
        checking: tuple[str, list[tuple[str, str]]]) -> None:
    url, seen = checking
    run = Run(make_spec(url, users=3, requests=60, trace=True, history="off"))
    result = await run.run()
    assert result.summary["total_requests"] == len(seen) == 60
    parsed = _valid(seen, run.run_id)
    assert len({p[0] for p in parsed}) == 60  # an iteration is one request here
    assert len({p[1] for p in parsed}) == 60


async def test_one_trace_per_iteration_of_a_scenario(
        checking: tuple[str, list[tuple[str, str]]], tmp_path: Path) -> None:
    url, seen = checking

    async def journey(user: Any) -> None:
        await user.get("/a")
        await user.get("/slow")
        await user.get("/b")

    run = Run(make_spec(url, scenario=journey, users=1, requests=45, trace=True,
                        trace_url="http://tracing.example/trace/{trace_id}", history="off"))
    result = await run.run()
    parsed = _valid(seen, run.run_id)
    per_trace = Counter(p[0] for p in parsed)
    assert len(parsed) == 45 and set(per_trace.values()) == {3} and len(per_trace) == 15
    assert len({p[1] for p in parsed}) == 45  # a new span per request
    slowest = result.slowest
    assert not slowest.empty and set(slowest["trace_id"]) <= set(per_trace)
    assert (slowest["name"] == "GET /slow").mean() > 0.5
    html = result.report(tmp_path / "r.html").read_text()
    top = slowest.sort_values("latency_ms").iloc[-1]["trace_id"]
    assert f'href="http://tracing.example/trace/{top}"' in html


def test_trace_on_the_fast_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="trace needs per-request headers"):
        make_spec("http://127.0.0.1:9/", trace=True, transport="fast")


def test_trace_with_http2_is_refused_for_url_runs() -> None:
    # the HTTP/2 transport sends one prepared header block in a URL run: no per-request trace
    # headers (a scenario's requests carry them: test_trace_over_http2_scenarios)
    with pytest.raises(ValueError, match="trace needs per-request headers: http2 URL runs"):
        make_spec("http://127.0.0.1:9/", trace=True, http2=True)
