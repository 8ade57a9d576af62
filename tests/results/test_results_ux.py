"""Issue 15: results a Locust or k6 user expects, and no figure that contradicts another.

Per-name stats everywhere, one definition of throughput, error samples, the target-down alert,
named checks and scenario iterations, input checks and the notebook views. Load goes only to
loopback, every run is bounded in count and time.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadnb import Run, make_spec
from loadnb import run as loadnb_run
from loadnb.console import format_summary
from loadnb.engine.vuser import VirtualUser

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
STATS_KEYS = {"name", "requests", "failed", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms"}


def loadnb(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loadnb.cli ARGS`` and wait for it."""
    return subprocess.run([sys.executable, "-m", "loadnb.cli", *args], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=timeout, stdin=subprocess.DEVNULL)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- 1. per-name results everywhere ------------------------------------------------------------
async def test_summary_stats_per_name_and_console_table(demo_url: str) -> None:
    async def browse(user: VirtualUser) -> None:
        await user.get("/", name="home")
        await user.get("/status/500", name="broken")

    run = Run(make_spec(demo_url, scenario=browse, users=2, requests=40, seed=1))
    result = await run.run()
    summary = result.summary
    stats = {row["name"]: row for row in summary["stats"]}
    assert set(stats) == {"home", "broken"}
    for row in stats.values():
        assert set(row) >= STATS_KEYS
    assert stats["home"]["requests"] + stats["broken"]["requests"] == summary["total_requests"]
    assert stats["broken"]["failed"] == stats["broken"]["requests"] > 0
    frame = result.stats.set_index("name")
    assert stats["home"]["p99_ms"] == pytest.approx(frame.loc["home", "p99_ms"], abs=1e-3)
    assert summary["target"] == result.spec.target
    text = format_summary(summary)
    target_line = next(line for line in text.splitlines() if "Target" in line)
    assert "scenario browse" in target_line and "GET" not in target_line
    table = [line for line in text.splitlines() if "home" in line or "broken" in line]
    assert len(table) >= 2, text
    assert any("Name" in line and "p95" in line for line in text.splitlines()), text


def test_out_csv_writes_stats_beside_and_json_holds_stats(demo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    proc = loadnb("run", demo_url, "-u", "2", "-n", "30", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    stats_csv = tmp_path / "x_stats.csv"
    assert stats_csv.exists()
    head = stats_csv.read_text().splitlines()[0].split(",")
    assert head[:2] == ["name", "requests"] and "failed" in head
    out_json = tmp_path / "x.json"
    proc = loadnb("run", demo_url, "-u", "2", "-n", "30", "--out", str(out_json), "-q")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out_json.read_text())
    assert doc["summary"]["stats"][0]["requests"] == 30


# -- 2. one definition of throughput -----------------------------------------------------------
@pytest.mark.parametrize("load", [{"users": 4}, {"rate": 300}], ids=["closed", "open"])
async def test_peak_is_never_below_the_average(demo_url: str, load: dict[str, Any]) -> None:
    run = Run(make_spec(demo_url, duration="1.2s", interval="0.2s", graceful_stop="1s", **load))
    result = await run.run()
    summary = result.summary
    full = [s for s in result.snapshots if s.phase != "done"]
    assert full, "at least one full interval"
    assert summary["peak_rps"] >= summary["avg_rps"] > 0, (summary["peak_rps"],
                                                            summary["avg_rps"])
    assert sum(row["rps"] for row in summary["stats"]) == pytest.approx(summary["avg_rps"],
                                                                        abs=0.01)


def rps_shown(line: str) -> float:
    """The number after ``RPS:`` in a progress or metrics line."""
    found = re.search(r"RPS: ([\d,]+\.\d)\b", line)
    assert found, line
    return float(found[1].replace(",", ""))


def assert_shows_average(line: str, avg_rps: float) -> None:
    """``line`` shows ``avg_rps`` to its one decimal. The summary keeps avg_rps rounded to 3
    decimals, the line rounds the exact quotient: 12839.2502 shows as 12,839.3 while
    f"{12839.25:.1f}" is 12,839.2 (about one run in 200), so equal to 0.05 + 0.0005."""
    assert rps_shown(line) == pytest.approx(avg_rps, abs=0.0505), (line, avg_rps)


def test_widget_final_line_uses_the_average(demo_url: str) -> None:
    from loadnb.results.words import live_line

    result = loadnb_run(demo_url, users=2, duration="1.1s", interval="0.3s")
    last = result.snapshots[-1]
    assert_shows_average(live_line(last, "done"), result.summary["avg_rps"])


def test_cli_final_line_rps_is_the_summary_average(demo_url: str) -> None:
    proc = loadnb("run", demo_url, "-u", "3", "-d", "1s", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    final = [line for line in proc.stderr.splitlines() if line.startswith("✅ Done")]
    assert final, proc.stderr
    assert_shows_average(final[-1], summary["avg_rps"])


# -- 4. a target that is down ------------------------------------------------------------------
def _snap(**changes: Any) -> Any:
    from loadnb.metrics.snapshot import Snapshot

    values: dict[str, Any] = dict(timestamp=1.0, elapsed_time=0.5, progress_percent=10.0,
                                  active_users=2, completed_requests=0, failed_requests=40,
                                  success_rate=0.0, current_rps=80.0, peak_rps=80.0,
                                  estimated_completion=1.5, interval_failed=40,
                                  interval_requests=40,
                                  interval_errors={"connection refused": 40})
    values.update(changes)
    return Snapshot(**values)


def test_target_down_rule_fires_on_refused_and_one_kind_only() -> None:
    from loadnb.rules.alerts import target_down

    rule = target_down()
    assert rule.name == "target_down"
    assert rule.check(_snap()) == "the target refused every connection"
    assert rule.check(_snap(interval_errors={"DNS error": 40})) == (
        "every request failed: DNS error")
    assert rule.check(_snap(interval_errors={"timeout": 40})) is None  # accepted: no_response
    assert rule.check(_snap(completed_requests=1, success_rate=2.4)) is None
    assert rule.check(_snap(interval_errors={"HTTP 500": 40})) is None
    assert rule.check(_snap(interval_errors={"timeout": 20, "connection reset": 20})) is None


def test_cli_says_the_target_is_down_first() -> None:
    port = closed_port()
    proc = loadnb("run", f"http://127.0.0.1:{port}/", "-u", "2", "-d", "1s", "--json",
                  "--no-history")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert [a["rule"] for a in summary["alerts"]][:1] == ["target_down"], summary["alerts"]
    table = proc.stderr[proc.stderr.index("loadnb run "):].splitlines()
    assert "the target refused every connection" in table[1], table[:3]


# -- 6. inputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["--out", "/proc/run.csv"], "--out"),
    (["-d", "-3s"], "duration"),
    (["--duration=-3s"], "duration"),
    (["--think-time", "-1"], "think_time must be >= 0"),
    (["--stage", "1s:5", "--users", "30"], "don't pass --users"),
    (["--rate-stages"], "--rate-stages needs --stage"),
    (["--rate", "2e6"], "rate must be at most"),
    (["--users", "2000000"], "users must be at most"),
    (["-d", "800h"], "duration must be at most"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_sent(args: list[str], message: str) -> None:
    port = closed_port()  # nothing listens: a run would fail, not exit 2
    proc = loadnb("run", f"http://127.0.0.1:{port}/", "-q", "--no-history", *args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_secret_query_parameters_are_redacted() -> None:
    from loadnb.text.redact import redact_text, redact_url

    for key in ("token", "key", "api_key", "apikey", "password", "secret", "signature",
                "access_token", "Token"):
        url = f"http://127.0.0.1:8000/x?page=2&{key}=abc123&q=ok"
        shown = redact_url(url)
        assert "abc123" not in shown and f"{key}=***" in shown and "page=2" in shown, shown
        assert "abc123" not in redact_text(f"GET {url} failed")
    assert redact_url("http://127.0.0.1:8000/x?monkey=1") == "http://127.0.0.1:8000/x?monkey=1"


def test_open_model_parameters_have_no_users_and_users_started(demo_url: str) -> None:
    result = loadnb_run(demo_url, rate=50, duration="0.5s")
    assert result.summary["parameters"]["users"] is None
    result = loadnb_run(demo_url, users=3, duration="0.6s")
    started = result.summary["users_started"]
    assert started == {"max_active": 3, "asked": 3}


def test_fewer_users_than_asked_is_a_warning() -> None:
    from loadnb.record.record import RunRecord
    from loadnb.record.summary import build_summary

    record = RunRecord("r1", make_spec("http://127.0.0.1:8000/", users=20, duration="2s"),
                       state="done")
    record.snapshots += [_snap(phase="running", active_users=12, target_users=20),
                         _snap(phase="done", active_users=0, target_users=20)]
    summary = build_summary(record)
    assert summary["users_started"] == {"max_active": 12, "asked": 20}
    assert any("only 12 of the 20 users" in w for w in summary["warnings"]), summary["warnings"]
    record.snapshots[0] = _snap(phase="running", active_users=20, target_users=20)
    assert not build_summary(record)["warnings"]


# -- 5. checks and iterations ------------------------------------------------------------------
async def test_named_checks_are_counted_and_printed(demo_url: str) -> None:
    async def journey(user: VirtualUser) -> None:
        await user.get("/api/items", name="items",
                       check=("has items", lambda r: user.iteration % 4 != 0))
        await user.get("/", name="home", check=lambda r: True)
        await user.get("/", name="home2", check=lambda r: r.status == 200, check_name="is 200")
        await user.get("/", name="home3", check=lambda r: r.json()["missing"])

    result = await Run(make_spec(demo_url, scenario=journey, users=1, requests=40)).run()
    checks = result.summary["checks"]
    assert set(checks) == {"has items", "check 1", "is 200", "check 2"}, checks
    assert checks["has items"]["passes"] + checks["has items"]["fails"] == 10
    assert checks["has items"]["fails"] == 2  # iterations 4 and 8
    assert checks["check 1"] == {"passes": 10, "fails": 0}
    assert checks["check 2"] == {"passes": 0, "fails": 10}
    errors = result.errors.set_index("name")
    assert errors.loc["home3", "kind"].startswith("check raised: ")
    assert "Traceback" in errors.loc["home3", "sample"]
    text = format_summary(result.summary)
    assert "✗ has items 80.0 % (8 / 10)" in text, text
    assert "✓ check 1 100.0 % (10 / 10)" in text, text


async def test_a_raising_task_is_a_failed_iteration_not_a_request(demo_url: str) -> None:
    async def flaky(user: VirtualUser) -> None:
        await user.get("/", name="before")
        if user.iteration % 2 == 0:
            raise KeyError("missing")

    result = await Run(make_spec(demo_url, scenario=flaky, users=2, duration=0.6)).run()
    summary = result.summary
    assert "flaky" not in result.totals
    assert summary["total_requests"] == result.totals["before"].started
    iters = summary["iterations"]["flaky"]
    assert iters["iterations"] >= iters["failed"] > 0
    assert summary["errors"].get("exception: KeyError", 0) == iters["failed"]
    err = result.errors.set_index("name").loc["flaky"]
    assert err["kind"] == "exception: KeyError" and "Traceback" in err["sample"]


async def test_a_scenario_without_requests_says_so(demo_url: str) -> None:
    async def idle(user: VirtualUser) -> None:
        user.count("ticks")

    result = await Run(make_spec(demo_url, scenario=idle, users=1, duration=0.4)).run()
    assert any("made no HTTP request in" in w for w in result.summary["warnings"]), (
        result.summary["warnings"])


# -- 3. errors with evidence -------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["fast", "aiohttp"])
def test_http_errors_keep_status_line_and_body(demo_url: str, transport: str) -> None:
    proc = loadnb("run", f"{demo_url}status/503?token=s3cret", "-u", "2", "-n", "20",
                  "--transport", transport, "--json", "--show-errors", "--no-history")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    sample = summary["error_samples"]["HTTP 503"]
    assert sample.startswith("HTTP/1.1 503") and "status 503" in sample, sample
    assert "s3cret" not in proc.stdout + proc.stderr
    shown = proc.stderr[proc.stderr.index("Error samples"):]
    assert "HTTP 503" in shown and "status 503" in shown, proc.stderr


async def test_scenario_error_samples_and_check_evidence(demo_url: str) -> None:
    async def journey(user: VirtualUser) -> None:
        await user.get("/status/500", name="broken")
        await user.get("/", name="home", check=("is json", lambda r: r.text == "{}"))

    result = await Run(make_spec(demo_url, scenario=journey, users=1, requests=6)).run()
    samples = result.summary["error_samples"]
    assert samples["HTTP 500"].startswith("HTTP/1.1 500") and "status 500" in samples["HTTP 500"]
    assert "OK" in samples["check failed: is json"]
    errors = result.errors.set_index("kind")
    assert "status 500" in errors.loc["HTTP 500", "sample"]


# -- 7. notebook -------------------------------------------------------------------------------
def test_result_html_card_and_plot(demo_url: str) -> None:
    async def tagged(user: VirtualUser) -> None:
        await user.get("/?x=<b>", name="<script>x</script>")

    result = loadnb_run(tagged, url=demo_url, users=1, requests=10)
    card = result._repr_html_()
    assert card.startswith("<div") and "<table" in card
    for part in ("done", "requests", "p95", "&lt;script&gt;x&lt;/script&gt;"):
        assert part in card, part
    assert "<script>" not in card
    fig = result.plot(columns=("current_rps", "p99_ms"))
    assert type(fig).__name__ == "figure" or hasattr(fig, "renderers")
    assert len(fig.renderers) == 2
    with pytest.raises(ValueError, match="not a column"):
        result.plot(columns=("nope",))


def test_load_test_views_before_a_run_are_empty() -> None:
    pytest.importorskip("ipywidgets")
    from loadnb.ui.loadtest import LoadTest

    test = LoadTest("http://127.0.0.1:8000/", users=2, duration="1s")
    assert test.stats.empty and "name" in test.stats.columns
    assert test.errors.empty and list(test.errors.columns) == ["name", "kind", "count", "sample"]
    assert test.summary["state"] == "idle" and test.summary["total_requests"] == 0
