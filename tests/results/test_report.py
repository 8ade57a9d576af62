"""The standalone HTML report (loadnb.report): content, size, the CLI; and in headless Chromium,
offline from a file:// URL (tests marked browser and slow)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loadnb
from loadnb.metrics.custom import CustomMetric
from loadnb.metrics.snapshot import Snapshot
from loadnb.metrics.stats import IntervalStats
from loadnb.record.record import RunRecord
from loadnb.results.report import MAX_POINTS, decimate, render, write_report
from loadnb.results.result import Result
from loadnb.rules.alert_engine import AlertEvent, AlertRule
from loadnb.spec.config import make_spec

ROOT = Path(__file__).resolve().parents[2]
#: The bound on a report of a 10-minute run at 0.5 s intervals (inline BokehJS is ~1.3 MB).
TEN_MINUTES_BOUND = 3_000_000


def synthetic(n: int = 1200, interval: float = 0.5, seed: int = 1,
              run_id: str = "5e5e5e5e5e5e") -> Result:
    """A run of ``n`` intervals: two request names, failures, an alert, a threshold and a custom
    timing and counter, built through RunRecord.add as the monitor does."""
    rng = np.random.default_rng(seed)
    spec = make_spec("http://127.0.0.1:9/?token=s3cret", users=50, duration=n * interval,
                     history="off")
    record = RunRecord(run_id, spec, started_at=1_700_000_000.0, transport="fast")
    done = failed = 0
    for i in range(n):
        parts = {}
        for name in ("GET /", "GET /api/items"):
            iv = IntervalStats(name, started=400, completed=395, failed=5, bytes=40_000)
            iv.latency.add_seconds(rng.lognormal(-4.5, 0.4, 400))
            iv.service.add_seconds(rng.lognormal(-4.6, 0.4, 400))
            iv.status = {200: 395, 503: 5}
            iv.errors = {"HTTP 503": 5}
            iv.samples = {"HTTP 503": "HTTP/1.1 503 <script>alert(1)</script>"}
            parts[name] = iv
        merged = IntervalStats("all")
        for iv in parts.values():
            merged.merge(iv)
        done, failed = done + merged.completed, failed + merged.failed
        p50, p95, p99 = (q * 1e3 for q in merged.latency.percentiles((50, 95, 99)))
        snap = Snapshot(
            timestamp=1_700_000_000.0 + (i + 1) * interval, elapsed_time=(i + 1) * interval,
            progress_percent=100.0 * (i + 1) / n, active_users=50, completed_requests=done,
            failed_requests=failed, success_rate=100.0 * done / (done + failed),
            current_rps=800 / interval, peak_rps=800 / interval, estimated_completion=0.0,
            interval_requests=800, interval_completed=790, interval_failed=10, p50_ms=p50,
            p95_ms=p95, p99_ms=p99, max_ms=p99 * 2, in_flight=int(rng.integers(20, 50)),
            target_users=50, loop_lag_ms=float(rng.uniform(0, 5)),
            cpu_percent=float(rng.uniform(30, 60)), phase="running" if i < n - 1 else "done",
            interval_errors={"HTTP 503": 10})
        timing = CustomMetric("checkout", "timing", count=10)
        timing.hist.add_seconds(rng.lognormal(-3, 0.3, 10))
        counter = CustomMetric("cart_items", "counter", count=5, total=11.0)
        record.add(snap, merged, parts, interval, custom={"checkout": timing,
                                                          "cart_items": counter})
    record.alerts.append(AlertEvent("p99 high", "p99 <b>42 ms</b> > 40 ms", 10.0, 12.5))
    record.thresholds = [{"expr": "p95<300ms", "observed": 25.0, "passed": True}]
    record.state = "done"
    return Result(record)


def test_report_has_every_part_escaped_and_offline(tmp_path: Path) -> None:
    result = synthetic(40)
    path = result.report(tmp_path / "one.html")
    text = path.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in text and "&lt;b&gt;42 ms&lt;/b&gt;" in text
    assert "s3cret" not in text
    for part in ("Summary", "Per request name", "Thresholds", "Alerts", "p95&lt;300ms",
                 "GET /api/items", "Custom: checkout (timing)", "Custom: cart_items (counter)",
                 "Throughput", "Latency percentiles", "Generator: loop lag", "Generator: CPU"):
        assert part in text, part
    assert not re.search(r"<(script|link)[^>]+(src|href)=", text)  # all inline
    assert "stretch_width" in text


def test_decimate_keeps_at_most_the_limit_and_the_last_row() -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": range(5000)})
    small = decimate(frame)
    assert len(small) <= MAX_POINTS and small["x"].iloc[-1] == 4999 and small["x"].iloc[0] == 0
    assert decimate(frame.head(10)) is not None and len(decimate(frame.head(10))) == 10


def test_ten_minute_report_size(tmp_path: Path) -> None:
    """A 10-minute run at 0.5 s intervals (1,200 snapshots): the report stays small."""
    path = synthetic(1200).report(tmp_path / "ten.html")
    size = path.stat().st_size
    print(f"10-minute report: {size:,} bytes")
    assert size < TEN_MINUTES_BOUND


def test_two_runs_overlay_with_tables_side_by_side(tmp_path: Path) -> None:
    a, b = synthetic(30, run_id="aaaaaaaaaaaa"), synthetic(50, seed=2, run_id="bbbbbbbbbbbb")
    text = render([a, b])
    assert "aaaaaaaaaaaa rps" in text and "bbbbbbbbbbbb rps" in text  # legend entries
    assert text.count("<h3>") == 2 and "class='side'" in text


def _cli(*args: str, history: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "LOADNB_HISTORY": str(history), "LOADNB_DEBUG": "1"}
    return subprocess.run([sys.executable, "-m", "loadnb.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=90, stdin=subprocess.DEVNULL)


def test_cli_report_of_a_history_run_and_an_export(demo_url: str, tmp_path: Path) -> None:
    history = tmp_path / "h.sqlite"
    export = tmp_path / "run.parquet"
    done = _cli("run", demo_url, "--rate", "50", "-d", "1s", "--interval", "0.25", "-q",
                "--json", "--out", str(export), history=history)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    out = tmp_path / "r.html"
    made = _cli("report", "last", str(export), "-o", str(out), history=history)
    assert made.returncode == 0 and "wrote" in made.stderr, made.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count(run_id) >= 4
    bad = _cli("report", "nonexistent", "-o", str(out), history=history)
    assert bad.returncode == 2 and "no run" in bad.stderr


# -- the report in a real browser, offline ---------------------------------------------------
def _browser_run(demo_url: str, history: Path) -> Result:
    async def journey(user: Any) -> None:
        user.count("cart_items", 2)
        async with user.timer("checkout"):
            await user.get("/", name="home")
        await user.get("/status/500", name="broken")

    always = AlertRule("always", lambda s: "fires" if s.interval_requests else None)
    return loadnb.run(demo_url, scenario=journey, users=2, duration="1s", interval="0.2s",
                      thresholds=["errors<1%"], alerts=[always], history=str(history))


POINTS_JS = """() => {
  const out = {docs: Bokeh.documents.length, points: []};
  for (const doc of Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      if (m.type !== 'ColumnDataSource') continue;
      const x = m.data instanceof Map ? m.data.get('x') : m.data['x'];
      if (x !== undefined) out.points.push(x.length);
    }
  }
  return out;
}"""


@pytest.mark.browser
@pytest.mark.slow
def test_report_opens_offline_in_chromium(demo_url: str, tmp_path: Path) -> None:
    from tests.browser.jupyter import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium): no real-browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    live = _browser_run(demo_url, tmp_path / "h.sqlite")
    reports = {"report-one": live.report(tmp_path / "one.html"),
               "report-two": write_report([live, synthetic(1200)], tmp_path / "two.html")}
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", route)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for name, path in reports.items():
                page.goto(path.as_uri())
                page.wait_for_function(
                    "() => window.Bokeh && Bokeh.documents.length > 0 && "
                    "document.querySelectorAll('.bk-Figure, .bk-Canvas, canvas').length >= 6",
                    timeout=30_000)
                found = page.evaluate(POINTS_JS)
                assert found["docs"] == 1
                assert found["points"] and min(found["points"]) > 0
                assert max(found["points"]) <= MAX_POINTS
                page.wait_for_timeout(300)
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        finally:
            chromium.close()
    assert errors == [], errors
    assert blocked == [], blocked
