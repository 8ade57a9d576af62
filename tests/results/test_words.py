"""Issue 20, item 9 (words): what a run says matches what happened.

A run whose every request timed out against a target that accepted the connections says so,
not "target down"; a run whose responses all land in the short final interval has a peak RPS no
lower than its average. The servers are loopback aiohttp servers of the test's own; every run is
bounded in count and time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from loadnb import Run, make_spec
from loadnb.console import format_summary


async def serve(handler: web.RequestHandler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


@pytest.fixture
async def held() -> AsyncIterator[tuple[str, asyncio.Event, list[int]]]:
    """A server that accepts every connection and reads every request, and answers each only
    once the event is set (at the latest when the test ends); the list counts the requests."""
    release = asyncio.Event()
    seen: list[int] = []

    async def answer(_: web.Request) -> web.Response:
        seen.append(1)
        await release.wait()
        return web.Response(text="OK")

    runner, url = await serve(answer)
    yield url, release, seen
    release.set()
    await runner.cleanup()


@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
async def test_every_request_timed_out_says_so_not_target_down(
        held: tuple[str, asyncio.Event, list[int]], transport: str) -> None:
    url, _, seen = held  # never released during the run
    result = await Run(make_spec(url, users=2, duration=1.2, timeout=0.5, interval=0.25,
                                 transport=transport, history="off")).run()
    summary = result.summary
    assert seen and summary["completed_requests"] == 0
    assert summary["errors"] == {"timeout": summary["failed_requests"]}
    rules = [a["rule"] for a in summary["alerts"]]
    assert "target_down" not in rules and "no_response" in rules, summary["alerts"]
    alert = next(a for a in summary["alerts"] if a["rule"] == "no_response")
    assert alert["message"] == "every request timed out after 0.5 s"
    lines = format_summary(summary).splitlines()
    assert lines[1] == "  ⚠ NO ANSWER: every request timed out after 0.5 s", lines[:3]
    assert "TARGET DOWN" not in "\n".join(lines)


async def test_peak_is_not_below_the_average_when_every_answer_lands_at_the_end(
        held: tuple[str, asyncio.Event, list[int]]) -> None:
    url, release, _ = held
    run = Run(make_spec(url, users=3, duration=0.3, interval=1.0, graceful_stop=5,
                        history="off"))
    # Answered right after the first tick (at 1 s, the load ended, 3 requests in flight): the
    # final tick follows within milliseconds, the next regular one would be a second later.
    run.subscribe(lambda snap: release.set() if snap.phase == "ending" else None)
    result = await asyncio.wait_for(run.run(), 10)
    snaps = result.snapshots
    summary = result.summary
    assert summary["completed_requests"] == 3
    assert [s.interval_completed for s in snaps[:-1]] == [0] * (len(snaps) - 1)
    assert snaps[-1].interval_completed == 3  # every answer in the final, partial interval
    assert summary["avg_rps"] > 0
    assert summary["peak_rps"] >= summary["avg_rps"], (summary["peak_rps"], summary["avg_rps"])
    assert snaps[-1].peak_rps >= 3 / snaps[-1].elapsed_time
    # and no spike: the peak is the run's average, not 3 answers over the final sliver
    assert summary["peak_rps"] == pytest.approx(summary["avg_rps"], abs=1e-3)
