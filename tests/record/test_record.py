"""The live run record: a result's tables agree with the snapshots while the run goes on and equal
their last-snapshot values after it; one recording path (coordinated-omission correction for
scenarios as for URL runs); alerts from the core reach summary, console and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadnb import Result, Run, Snapshot, demo, make_spec
from tests.conftest import until

ROOT = Path(__file__).resolve().parents[2]


def view(result: Result) -> dict[str, Any]:
    """What a person reads of a result, as plain numbers (state left out)."""
    summary = {k: v for k, v in result.summary.items() if k not in ("state",)}
    return {"stats": result.stats.to_dict("list"), "errors": result.errors.to_dict("list"),
            "timeline": result.errors_timeline.to_dict("list"), "summary": summary}


def agrees_with_snapshots(result: Result) -> None:
    """Tables so far = the cumulative columns of the last snapshot so far."""
    last = result.snapshots[-1]
    stats, summary = result.stats, result.summary
    total = last.completed_requests + last.failed_requests + last.cancelled_requests
    assert len(stats) == 1 and int(stats["requests"].sum()) == total > 0
    assert int(stats["completed"].sum()) == last.completed_requests == summary[
        "completed_requests"]
    assert int(stats["failed"].sum()) == last.failed_requests == summary["failed_requests"]
    assert summary["total_requests"] == total
    assert int(result.errors["count"].sum()) == last.failed_requests > 0
    assert summary["duration_s"] == round(last.elapsed_time, 3)
    assert summary["peak_rps"] == round(max(s.peak_rps for s in result.snapshots), 3)
    assert len(result.df) == len(result.snapshots)


CASES = [
    pytest.param({"users": 4}, "fast", id="closed-fast"),
    pytest.param({"users": 4, "transport": "aiohttp"}, "aiohttp", id="closed-aiohttp"),
    pytest.param({"rate": 200}, "fast", id="open-fast"),
    pytest.param({"rate": 200, "transport": "aiohttp"}, "aiohttp", id="open-aiohttp"),
]


@pytest.mark.parametrize(("load", "transport"), CASES)
async def test_tables_are_live_mid_run_and_final_equals_last_snapshot(
        flaky_url: str, load: dict[str, Any], transport: str) -> None:
    run = Run(make_spec(flaky_url, duration=1.5, interval=0.25, **load))
    mid: list[dict[str, Any]] = []
    final: list[dict[str, Any]] = []

    def sink(snap: Snapshot) -> None:  # called with the record as of this snapshot
        if len(run.snapshots) == 3:
            agrees_with_snapshots(run.result)
            mid.append(view(run.result))
        if snap.phase == "done":
            final.append(view(run.result))

    run.subscribe(sink)
    result = await run.run()
    assert result.transport == transport and len(mid) == 1 and len(final) == 1
    assert mid[0]["summary"]["total_requests"] < final[0]["summary"]["total_requests"]
    agrees_with_snapshots(result)
    assert view(result) == final[0]  # nothing was added or copied after the last snapshot


async def test_tables_read_from_outside_while_the_run_streams(flaky_url: str) -> None:
    run = Run(make_spec(flaky_url, users=2, duration=2, interval=0.2))
    run.start()
    await until(lambda: len(run.snapshots) >= 4, 5)
    assert run.state == "running" and len(run.snapshots) >= 4
    agrees_with_snapshots(run.result)  # no await between the reads: one consistent record
    assert run.result.summary["state"] == "running"
    await run.wait()


async def slow_page(user: Any) -> None:
    await user.get("/delay?delay_ms=6", name="slow")


@pytest.mark.parametrize("kind", ["url", "scenario"])
async def test_expected_interval_corrects_scenarios_like_url_runs(kind: str) -> None:
    url = await demo.start()
    try:
        target: dict[str, Any] = ({"url": url + "delay?delay_ms=6"} if kind == "url"
                                  else {"url": url, "scenario": slow_page})
        result = await Run(make_spec(users=2, duration=1, expected_interval="1ms",
                                     **target)).run()
        plain = await Run(make_spec(users=2, duration=1, expected_interval="50ms",
                                    **target)).run()
    finally:
        await demo.stop(url)
    o = result.overall
    # Every response took >= 6 ms against an expected 1 ms: each adds its missed requests.
    assert o.corrected > 3 * o.completed and o.latency.total == o.service.total + o.corrected
    # The synthetic samples are the missed requests' shorter waits (down to the 1 ms expected
    # interval): the fastest tenth of the latencies is below every service time (>= 6 ms), on a
    # busy machine too (a comparison of medians is not: client lag moves both).
    assert o.latency.percentile(10) < o.service.min_s
    assert "corrected for coordinated omission" in result.summary["latency_basis"]
    assert f"{o.corrected:,} synthetic samples" in result.summary["latency_basis"]
    # No response slower than 50 ms: nothing corrected, and the label says so.
    assert plain.overall.corrected == 0
    assert plain.summary["latency_basis"] == "time from the send"


def test_cli_prints_alerts_live_and_in_the_summary(flaky_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadnb.cli", "run", flaky_url, "--users", "2", "--duration", "1.5",
         "--interval", "0.25", "--json"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    alerts = [a for a in summary["alerts"] if a["rule"] == "low_success_rate"]
    assert len(alerts) == 1 and set(alerts[0]) == {"rule", "message", "fired_at", "cleared_at"}
    assert alerts[0]["cleared_at"] is None and 0 < alerts[0]["fired_at"] <= 0.5
    assert alerts[0]["message"].startswith("Low success rate: ")
    live = [line for line in done.stderr.splitlines()
            if line.startswith("⚠ alert low_success_rate fired at ")]
    assert len(live) == 1
    table = [line for line in done.stderr.splitlines() if line.strip().startswith("Alerts")]
    assert len(table) == 1 and "low_success_rate: fired" in table[0]
    assert "still active at the end" in table[0]


async def test_a_run_that_fails_to_build_closes_its_transport() -> None:
    closed: list[bool] = []

    class NoScenarioTransport:  # no ``request``: a scenario cannot run on it
        name, waiting = "plain", 0

        async def send(self, request: object) -> tuple[int, int]:
            return 200, 0

        def classify(self, exc: BaseException) -> str:
            return "exception"

        async def aclose(self) -> None:
            closed.append(True)

    run = Run(make_spec(url="http://127.0.0.1:9/", scenario=slow_page, users=1, duration=1),
              transport=lambda options: NoScenarioTransport())
    with pytest.raises(TypeError, match="scenarios run on the aiohttp transport"):
        await run.run()
    assert closed == [True] and run.state == "failed"
