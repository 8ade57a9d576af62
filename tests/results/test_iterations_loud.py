"""Issue 20, item 3: a task that never works is loud.

Its failed iterations are said on the console summary's first lines and on the widget's metrics
line, a default alert fires when they keep failing, and thresholds name them
(``iterations_failed<1%``, ``iterations_failed[buy]<1``, ``checks>99%``). Load goes only to the
demo server on loopback; every run is bounded in count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadnb import Run, make_spec
from loadnb.console import format_summary
from loadnb.engine.vuser import VirtualUser
from loadnb.record.summary import Summary
from loadnb.record.summary import summary_of as filled

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}

SCENARIOS = '''
async def browse(user):
    await user.get("/", name="home", check=("is 200", lambda r: r.status == 200))


async def buy(user):
    await user.post("/api/items", json={"name": user.data["name"]}, expect_status=201)


mix = {browse: 3, buy: 1}
'''


async def browse(user: VirtualUser) -> None:
    await user.get("/", name="home")


async def buy(user: VirtualUser) -> None:
    """The README's task without its data: ``user.data`` is None, a TypeError every time."""
    await user.post("/api/items", json={"name": user.data["name"]},  # type: ignore[index]
                    expect_status=201)


def summary_of(failed: int, total: int) -> Summary:
    return filled({"run_id": "r1", "state": "done", "total_requests": 150,
                   "completed_requests": 150, "failed_requests": 0, "cancelled_requests": 0,
                   "success_rate": 100.0,
                   "iterations": {"browse": {"iterations": 150, "failed": 0},
                                  "buy": {"iterations": total, "failed": failed}}})


def test_the_console_summary_says_failed_iterations_first() -> None:
    lines = format_summary(summary_of(50, 50)).splitlines()
    assert lines[1] == "  ⚠ Iterations 50 failed of 200 (buy: 50/50)", lines[:4]
    success = next(line for line in lines if "Success rate" in line)
    assert lines.index(success) > 1  # the requests' 100 % comes after, never first
    quiet = format_summary(summary_of(0, 50)).splitlines()
    assert not any("⚠" in line for line in quiet), quiet


async def test_a_scenario_that_never_works_is_loud_on_the_console(demo_url: str) -> None:
    result = await Run(make_spec(demo_url, scenario={browse: 3, buy: 1}, users=2, requests=60,
                                 seed=3, history="off")).run()
    summary = result.summary
    failed = summary["iterations"]["buy"]["failed"]
    assert failed == summary["iterations"]["buy"]["iterations"] > 0
    assert summary["failed_requests"] == 0 and summary["success_rate"] == 100.0
    total = sum(it["iterations"] for it in summary["iterations"].values())
    first = format_summary(summary).splitlines()[1]
    assert first == f"  ⚠ Iterations {failed:,} failed of {total:,} (buy: {failed:,}/{failed:,})"


async def test_a_task_that_fails_before_any_request_is_still_counted(demo_url: str) -> None:
    result = await Run(make_spec(demo_url, scenario=buy, users=2, duration=0.5,
                                 interval=0.25, history="off")).run()
    summary = result.summary
    iterations = summary["iterations"]["buy"]
    assert iterations["failed"] == iterations["iterations"] > 0, summary["iterations"]
    assert summary["errors"]["exception: TypeError"] == iterations["failed"]
    assert summary["total_requests"] == 0
    assert format_summary(summary).splitlines()[1].startswith("  ⚠ Iterations ")


async def test_the_default_iteration_alert_fires_against_the_demo(demo_url: str) -> None:
    result = await Run(make_spec(demo_url, scenario={browse: 3, buy: 1}, users=2, duration=1.5,
                                 interval=0.25, seed=3, history="off")).run()
    fired = [a for a in result.summary["alerts"] if a["rule"] == "iterations_failing"]
    assert len(fired) == 1, result.summary["alerts"]
    assert fired[0]["fired_at"] <= 1.0  # two intervals in a row: the second one fires it
    assert "buy" in fired[0]["message"] and "exception: TypeError" in fired[0]["message"]
    assert "browse" not in fired[0]["message"]
    assert fired[0]["cleared_at"] is None


@pytest.mark.slow
async def test_the_widget_metrics_line_says_iterations_fail(demo_url: str) -> None:
    from loadnb.ui import LoadTest

    test = LoadTest({browse: 3, buy: 1}, url=demo_url, users=2, duration=0.5, interval=0.1,
                    seed=3, history="off")
    lines: list[str] = []
    test.metrics.observe(lambda change: lines.append(change["new"]), names="value")
    result = await test.run()
    buy_its = result.summary["iterations"]["buy"]
    total = sum(it["iterations"] for it in result.summary["iterations"].values())
    n = buy_its["failed"]
    assert n == buy_its["iterations"] > 0
    assert f"⚠ Iterations {n:,} failed of {total:,} (buy: {n:,}/{n:,})" in test.metrics.value
    assert "Done" in test.metrics.value
    live = [line for line in lines if "Running" in line and "⚠ Iterations" in line]
    assert live, lines  # said while the run goes, too


def test_metrics_line_is_unchanged_without_failed_iterations() -> None:
    from loadnb.results.words import live_line
    from tests.ui.widget_helpers import snap

    plain = live_line(snap())
    assert live_line(snap(), iterations={"browse": [10, 0]}) == plain
    assert live_line(snap(), iterations={"browse": [10, 0], "buy": [4, 3]}) == (
        f"{plain} | ⚠ Iterations 3 failed of 14 (buy: 3/4)")


@pytest.fixture
def scenarios(tmp_path: Path) -> Path:
    path = tmp_path / "journeys.py"
    path.write_text(SCENARIOS)
    return path


def cli(url: str, scenario: str, *thresholds: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "loadnb.cli", "run", url, "--scenario", scenario, "-u", "2",
            "-n", "40", "--json", "--no-history"]
    for t in thresholds:
        args += ["--threshold", t]
    return subprocess.run(args, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_iteration_and_check_thresholds_pass_with_0_and_fail_with_3(
        demo_url: str, scenarios: Path) -> None:
    passing = cli(demo_url, f"{scenarios}:browse", "iterations_failed<1%",
                  "iterations_failed[browse]<1", "checks>99%")
    assert passing.returncode == 0, passing.stderr
    got = {t["expr"]: (t["observed"], t["passed"]) for t in json.loads(passing.stdout)[
        "thresholds"]}
    assert got == {"iterations_failed<1%": (0.0, True), "iterations_failed[browse]<1": (0.0, True),
                   "checks>99%": (100.0, True)}
    failing = cli(demo_url, f"{scenarios}:mix", "iterations_failed<1%",
                  "iterations_failed[buy]<1", "checks>99%")
    assert failing.returncode == 3, failing.stderr
    summary = json.loads(failing.stdout)
    got = {t["expr"]: (t["observed"], t["passed"]) for t in summary["thresholds"]}
    failed = summary["iterations"]["buy"]["failed"]
    total = sum(it["iterations"] for it in summary["iterations"].values())
    assert got["iterations_failed<1%"] == (pytest.approx(100 * failed / total, abs=1e-5), False)
    assert got["iterations_failed[buy]<1"] == (failed, False) and failed > 0
    assert got["checks>99%"] == (100.0, True)
    assert "✗ FAIL  iterations_failed[buy]<1" in failing.stderr
