"""Judging real runs against the demo server: thresholds pass (exit 0) and fail (exit 3), bad
expressions are refused before anything is sent (exit 2), --abort-on-fail stops within one
interval, JUnit and Markdown outputs, per-name alert expressions, and webhooks on loopback."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from loadnb import AlertRule, Run, make_spec
from loadnb.rules.notify import FLUSH_SECONDS, TIMEOUT

ROOT = Path(__file__).resolve().parents[2]


def served(url: str) -> int:
    with urllib.request.urlopen(url + "stats", timeout=5) as resp:
        return int(json.loads(resp.read())["requests"])


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadnb.cli", "run", *args, "--json"],
                          capture_output=True, text=True, timeout=90, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_thresholds_pass_with_0_and_fail_with_3(demo_url: str, tmp_path: Path) -> None:
    passing = cli(demo_url, "-u", "2", "-d", "1", "--threshold", "errors<1%",
                  "--threshold", "p99<2s", "--junit", str(tmp_path / "ok.xml"))
    assert passing.returncode == 0, passing.stderr
    assert [t["passed"] for t in json.loads(passing.stdout)["thresholds"]] == [True, True]
    failing = cli(demo_url + "delay?delay_ms=20", "-u", "2", "-d", "1",
                  "--threshold", "p50<5ms", "--threshold", "errors<1%",
                  "--junit", str(tmp_path / "bad.xml"), "--summary-md", str(tmp_path / "s.md"),
                  env={"GITHUB_STEP_SUMMARY": str(tmp_path / "step.md")})
    assert failing.returncode == 3, failing.stderr
    got = {t["expr"]: t for t in json.loads(failing.stdout)["thresholds"]}
    assert got["p50<5ms"]["passed"] is False and got["p50<5ms"]["observed"] >= 20
    assert got["errors<1%"]["passed"] is True
    assert "✗ FAIL  p50<5ms" in failing.stderr and "✓ pass  errors<1%" in failing.stderr
    suite = ET.parse(tmp_path / "bad.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    assert cases["errors<1%"] is None and cases["p50<5ms"] is not None
    assert "p50<5ms failed: observed" in (cases["p50<5ms"].get("message") or "")
    ok_suite = ET.parse(tmp_path / "ok.xml").getroot().find("testsuite")
    assert ok_suite is not None and ok_suite.get("failures") == "0"
    markdown = (tmp_path / "s.md").read_text()
    assert "| `p50<5ms` |" in markdown and "❌ fail" in markdown and "✅ pass" in markdown
    assert (tmp_path / "step.md").read_text() == markdown


def test_a_bad_expression_is_one_line_exit_2_and_nothing_is_sent(demo_url: str) -> None:
    before = served(demo_url)
    done = cli(demo_url, "-u", "2", "-d", "1", "--threshold", "p95<300",
               "--threshold", "errors<1%")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("loadnb: error: threshold 'p95<300': a time bound needs a unit, "
                           "e.g. 300ms or 1s\n")
    assert served(demo_url) == before


def test_abort_on_fail_stops_once_the_error_budget_is_spent(flaky_url: str) -> None:
    done = cli(flaky_url, "-u", "2", "-n", "100000", "--interval", "0.2", "--threshold",
               "errors<1%", "--abort-on-fail")
    assert done.returncode == 3, done.stderr
    s = json.loads(done.stdout)
    assert s["aborted_by"] == "errors<1%" and s["state"] == "stopped"
    assert s["total_requests"] < 100_000
    assert "aborted the run" in done.stderr


async def test_abort_on_fail_within_one_interval_of_the_loss(flaky_url: str) -> None:
    run = Run(make_spec(flaky_url, users=2, requests=20_000, interval=0.2, duration=30,
                        thresholds=["errors<1%"], abort_on_fail=True, abort_grace=60))
    result = await run.run()
    snaps = result.snapshots
    # The budget (1 % of 20,000 = 200 failures) is spent at the first snapshot showing 200
    # failures; that snapshot stops the run and the next one is the final one (the grace period
    # keeps the sustained-failure rule out of it).
    lost = next(i for i, s in enumerate(snaps) if s.failed_requests >= 200)
    assert lost >= len(snaps) - 2 and snaps[-1].phase == "done"
    assert result.summary["aborted_by"] == "errors<1%"


async def test_abort_on_a_sustained_failure_after_the_grace_period(demo_url: str) -> None:
    started = time.monotonic()
    result = await Run(make_spec(demo_url + "delay?delay_ms=8", users=2, duration=20,
                                 interval=0.2, thresholds=["p99<2ms"], abort_on_fail=True,
                                 abort_grace=1)).run()
    took = time.monotonic() - started
    assert result.summary["aborted_by"] == "p99<2ms" and result.state == "stopped"
    # Failing from the start: stopped at the first snapshot after the 1 s grace (three failures
    # in a row by then), which is the last before the final one; the time bounds only catch a
    # run that did not abort (20 s).
    judged = [s for s in result.snapshots[:-1] if s.elapsed_time >= 1.0]
    assert len(judged) == 1, [s.elapsed_time for s in result.snapshots]
    assert 1.0 <= result.duration_s < 10 and took < 15


async def test_an_expression_alert_on_one_request_name_fires_for_that_name_only(
        demo_url: str) -> None:
    async def mixed(user: Any) -> None:
        await user.get("/", name="fast")
        await user.get("/delay?delay_ms=300", name="slow")

    # the bound sits far from both: 300 ms answers always break it, a busy machine's fast ones
    # (a few ms, tens when loaded) never do
    result = await Run(make_spec(demo_url, scenario=mixed, users=2, duration=1.2, interval=0.25,
                                 alerts=["p95[slow]<150ms", "p95[fast]<150ms"])).run()
    fired = {a["rule"] for a in result.summary["alerts"]}
    assert fired == {"p95[slow]<150ms"}
    message = result.summary["alerts"][0]["message"]
    assert message.startswith("p95[slow]<150ms broken: ") and "ms in the last interval" in message


class Receiver:
    """A webhook receiver on 127.0.0.1 (in this loop): ``mode`` ok, or hang."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode, self.posts = mode, []  # type: ignore[var-annotated]
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        if self.mode == "hang":  # until the test ends (at most 30 s)
            await asyncio.wait_for(self.release.wait(), 30)
        return web.Response(text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook/secret-token", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook/secret-token"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        self.release.set()
        await self.runner.cleanup()


def once(snap: Any) -> str | None:
    """Fires in the intervals ending between 0.4 s and 0.8 s: one fire, one clear."""
    return "window" if 0.4 <= snap.elapsed_time < 0.8 else None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


async def test_a_webhook_gets_one_fire_and_one_clear(demo_url: str, receiver: Receiver) -> None:
    called: list[tuple[str, str]] = []
    rule = AlertRule("window", once, on_event=lambda e, what: called.append((e.rule, what)))
    result = await Run(make_spec(demo_url, users=1, duration=1.5, interval=0.2, alerts=[rule],
                                 notify=[receiver.url])).run()
    assert [(p["what"], p["event"]["rule"]) for p in receiver.posts] == [
        ("fired", "window"), ("cleared", "window")]
    assert receiver.posts[0]["text"].startswith("⚠ loadnb alert window fired at ")
    assert receiver.posts[1]["event"]["cleared_at"] is not None
    assert called == [("window", "fired"), ("window", "cleared")]
    assert result.warnings == []
    assert "secret-token" not in json.dumps(result.summary)  # the hook's path is a secret


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
async def test_a_hanging_or_refusing_webhook_does_not_slow_the_run(demo_url: str) -> None:
    def spec(notify: list[str]) -> Any:
        return make_spec(demo_url, users=2, duration=1.5, interval=0.1,
                         alerts=[AlertRule("always", lambda s: "on"),
                                 AlertRule("flap", lambda s: "x" if int(s.elapsed_time * 10) % 2
                                           else None)], notify=notify)

    timings = {}
    async with Receiver("hang") as hanging:
        for label, hooks in (("none", []), ("hang", [hanging.url]),
                             ("refused", [f"http://127.0.0.1:{closed_port()}/hook"])):
            started = time.monotonic()
            result = await Run(spec(hooks)).run()
            timings[label] = (time.monotonic() - started, result)
    base_wall, base = timings["none"]
    for label in ("hang", "refused"):
        wall, result = timings[label]
        # The load itself is not slowed and the end waits at most the flush time for posts
        # still pending: a post awaited on the load's path would cost its 5 s timeout; the
        # bounds catch that, not a busy machine's noise.
        assert result.duration_s < base.duration_s + TIMEOUT / 2, label
        assert wall < base_wall + FLUSH_SECONDS + TIMEOUT / 2, (label, wall, base_wall)
        assert any("alert notifications to http://127.0.0.1:" in w and "/***" in w
                   for w in result.warnings), result.warnings
        assert not any("secret-token" in w for w in result.warnings)
    assert len(hanging.posts) >= 3


async def test_alerts_and_thresholds_on_custom_metrics(demo_url: str) -> None:
    async def checkout(user: Any) -> None:
        async with user.timer("checkout"):
            await user.get("/delay?delay_ms=15", name="pay")
        user.count("cart_items", 3)

    result = await Run(make_spec(demo_url, scenario=checkout, users=2, duration=1, interval=0.25,
                                 alerts=["checkout.p95<5ms", "cart_items.total<0"],
                                 thresholds=["checkout.p95<1s", "cart_items.mean>2",
                                             "checkout.p50<5ms"])).run()
    got = {t["expr"]: t["passed"] for t in result.summary["thresholds"]}
    assert got == {"checkout.p95<1s": True, "cart_items.mean>2": True, "checkout.p50<5ms": False}
    fired = {a["rule"] for a in result.summary["alerts"]}
    assert {"checkout.p95<5ms", "cart_items.total<0"} <= fired


def replay(rule_name: str, snaps: list[Any]) -> list[tuple[float, float | None]]:
    """What a default rule must have done on these snapshots: (fired_at, cleared_at) pairs."""
    from loadnb.rules.alert_engine import AlertEngine, AlertEvent
    from loadnb.rules.alerts import default_rules

    events: list[AlertEvent] = []
    rule = next(r for r in default_rules() if r.name == rule_name)
    engine = AlertEngine([rule], events)
    for snap in snaps:
        engine(snap)
    return [(e.fired_at, e.cleared_at) for e in events]


async def test_default_rules_fire_and_clear_at_the_right_snapshots(demo_url: str) -> None:
    """The live alerts are the rules replayed on the run's snapshots, and the run trips both.

    Its phases go by arrival, not by the clock (a busy machine's catch-up bursts would move
    clock phases): arrivals 100-119 fail, so the cumulative success rate dips to 83 % and is
    back above 90 % after 200 answers (97 % at the end); arrivals 120-219 take 500 ms, so for
    about half a second nothing is answered and an interval has far below half the target rate.
    """
    arrivals = itertools.count()

    async def phases(user: Any) -> None:
        n = next(arrivals)
        if 100 <= n < 120:
            await user.get("/status/500", name="phase")  # errors: success rate dips
        elif 120 <= n < 220:
            await user.get("/delay?delay_ms=500", name="phase")  # slow: no answers for a while
        else:
            await user.get("/", name="phase")

    result = await Run(make_spec(demo_url, scenario=phases, rate=200, duration=3,
                                 interval=0.25)).run()
    snaps = result.snapshots
    for rule in ("low_success_rate", "low_rps"):
        expected = replay(rule, snaps)
        got = [(a["fired_at"], a["cleared_at"]) for a in result.summary["alerts"]
               if a["rule"] == rule]
        assert got == expected, rule
    # The run was built to trip both: they fired, and the success rate recovered.
    rates = [(s.elapsed_time, round(s.success_rate, 1)) for s in snaps]
    fired = replay("low_success_rate", snaps)
    assert fired and fired[0][1] is not None, rates
    assert replay("low_rps", snaps), [(s.elapsed_time, round(s.current_rps)) for s in snaps]


def test_cli_alert_expressions_work_with_stages(demo_url: str) -> None:
    done = cli(demo_url, "--stage", "1s:2", "--alert", "p99<1ms", "--interval", "0.25")
    assert done.returncode == 0, done.stderr
    rules = json.loads(done.stdout)["parameters"]["alerts"]
    assert rules[-1] == "p99<1ms" and "low_success_rate" in rules


# -- issue 20, item 7: bounds that cannot mean anything, refused before anything is sent ------
@pytest.mark.parametrize(("expr", "message"), [
    ("p95<-5ms", "threshold 'p95<-5ms': a latency bound cannot be negative"),
    ("requests>-1", "threshold 'requests>-1': a count bound cannot be negative"),
    ("success>150%", "threshold 'success>150%': a percentage is between 0 and 100, got 150"),
    ("p99<500us", "threshold 'p99<500us': a time bound's unit is ms, s, sec, m, min or h"),
])
def test_a_bound_that_cannot_mean_anything_is_exit_2_and_nothing_is_sent(
        demo_url: str, expr: str, message: str) -> None:
    before = served(demo_url)
    done = cli(demo_url, "-u", "2", "-d", "1", "--threshold", expr)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.startswith(f"loadnb: error: {message}"), done.stderr
    assert done.stderr.count("\n") == 1
    assert served(demo_url) == before


def test_a_threshold_in_hours_is_valid(demo_url: str) -> None:
    done = cli(demo_url, "-u", "1", "-n", "5", "--threshold", "p99<1h", "--no-history")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["thresholds"] == [
        {"expr": "p99<1h", "observed": pytest.approx(0.0, abs=3_600_000), "passed": True}]
