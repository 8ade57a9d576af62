"""Real runs into the history and back as the live Result, and the comparison of two runs."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loadnb
from loadnb.history.comparison import compare, mann_whitney, rank
from loadnb.history.reader import list_runs
from loadnb.history.store import SNAPSHOT_COLUMNS, TABLES, connect
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.snapshot import Snapshot
from loadnb.metrics.stats import IntervalStats
from loadnb.record.record import RunRecord
from loadnb.spec.config import make_spec


# -- statistics ------------------------------------------------------------------------------
def test_mann_whitney() -> None:
    rng = np.random.default_rng(1)
    assert rank(np.array([1.0, 1.0, 2.0])).tolist() == [1.5, 1.5, 3.0]
    assert mann_whitney(rng.normal(10, 1, 20), rng.normal(20, 1, 20)) < 1e-6
    same = [mann_whitney(rng.normal(10, 1, 20), rng.normal(10, 1, 20)) for _ in range(200)]
    assert 0.0 < sum(p < 0.05 for p in same) / 200 < 0.12  # about alpha, no more
    assert math.isnan(mann_whitney(np.array([1.0]), np.array([2.0, 3.0, 4.0])))
    assert mann_whitney(np.ones(5), np.ones(5)) == 1.0


# -- integration -------------------------------------------------------------------------------
async def test_a_run_loads_back_as_the_live_result(demo_url: str, tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    live = await loadnb.arun(demo_url + "delay?delay_ms=2&error_rate=0.1", users=4,
                             duration="1.5s", interval="0.25s", history=str(path))
    loaded = loadnb.load(live.run_id[:6], path)
    assert loaded.summary == live.summary
    for view in ("df", "stats", "errors", "alerts"):
        pd.testing.assert_frame_equal(getattr(loaded, view), getattr(live, view))
    pd.testing.assert_frame_equal(loaded.stats_timeline, live.stats_timeline, rtol=1e-9)
    runs = list_runs(path)
    assert [(r["run_id"], r["state"], r["snapshots"]) for r in runs] == [
        (live.run_id, "done", len(live.snapshots))]
    assert runs[0]["p99_ms"] == live.summary["latency_ms"]["p99"]


async def shop(user: object) -> None:
    async with user.timer("checkout"):  # type: ignore[attr-defined]
        await user.get("/delay?delay_ms=3", name="pay",  # type: ignore[attr-defined]
                       check=("fast enough", lambda r: r.elapsed < 0.004))
    user.count("cart_items", 2)  # type: ignore[attr-defined]
    user.gauge("queue", 7)  # type: ignore[attr-defined]


async def test_custom_metrics_and_thresholds_load_back(demo_url: str, tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    live = await loadnb.arun(shop, url=demo_url, users=2, duration="1s", interval="0.25s",
                             thresholds=["checkout.p95<1s", "p99<1ms", "cart_items.total>1"],
                             history=str(path))
    loaded = loadnb.load(live.run_id, path)
    assert live.summary["custom"] and live.summary["thresholds"]
    assert loaded.summary["custom"] == live.summary["custom"]
    assert loaded.summary["thresholds"] == live.summary["thresholds"]
    assert live.summary["checks"] and live.summary["iterations"]
    assert loaded.summary["checks"] == live.summary["checks"]
    assert loaded.summary["iterations"] == live.summary["iterations"]
    pd.testing.assert_frame_equal(loaded.custom, live.custom)


async def test_a_deleted_run_leaves_nothing_behind(demo_url: str, tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    kept = await loadnb.arun(shop, url=demo_url, users=1, duration="0.4s", interval="0.2s",
                             history=str(path))
    gone = await loadnb.arun(shop, url=demo_url, users=1, duration="0.4s", interval="0.2s",
                             history=str(path))
    loadnb.history.delete(gone.run_id, path)
    conn = connect(path)
    try:
        for table in TABLES:
            ids = {r[0] for r in conn.execute(f"SELECT DISTINCT run_id FROM {table}")}
            assert ids <= {kept.run_id}, table
        assert {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM custom")} == {
            kept.run_id}
    finally:
        conn.close()


def _verdicts(table: pd.DataFrame) -> dict[str, str]:
    rows = table[table.scope == "overall"]
    return dict(zip(rows.metric, rows.verdict, strict=True))


def _synthetic_run(run_id: str, ms: float, seed: int, intervals: int = 12,
                   stall: int | None = None) -> loadnb.Result:
    """A finished run of ``intervals`` 0.25 s intervals at 80 requests/s whose latencies are
    ``ms`` give or take 15 % (seeded), one snapshot per interval as the monitor makes them; in
    interval ``stall`` a quarter of the answers take 200 ms (one hiccup of a busy machine)."""
    rng = np.random.default_rng(seed)
    record = RunRecord(run_id, make_spec("http://127.0.0.1:9/x"))
    for i in range(intervals):
        seconds = rng.normal(ms, 0.15 * ms, 20).clip(0.1) / 1e3
        if i == stall:
            seconds[:5] = 0.2
        part = IntervalStats("GET /x", started=20, completed=20,
                             latency=Histogram.from_seconds(seconds), status={200: 20})
        p50, p95, p99 = (v * 1e3 for v in part.latency.percentiles((50, 95, 99)))
        t = 0.25 * (i + 1)
        o = record.overall
        snap = Snapshot(timestamp=1e9 + t, elapsed_time=t, progress_percent=100 * t / 3,
                        active_users=2, completed_requests=o.completed + 20, failed_requests=0,
                        success_rate=100.0, current_rps=80.0, peak_rps=80.0,
                        estimated_completion=3 - t, interval_requests=20, interval_completed=20,
                        p50_ms=p50, p95_ms=p95, p99_ms=p99,
                        phase="done" if i == intervals - 1 else "running")
        record.add(snap, part, {"GET /x": part}, 0.25)
    record.state = "done"
    return loadnb.Result(record)


def test_compare_verdict_needs_significance_a_fifth_and_five_ms() -> None:
    """The verdict on synthetic runs: noise between runs of one configuration is never a
    regression; a change is one only when significant, at least 20 % and at least 5 ms."""
    for seed in range(10):
        same = compare(_synthetic_run("a", 3.0, seed), _synthetic_run("b", 3.0, seed + 100))
        assert not same.regressions and same.as_dict()["regressions"] == 0, same.table
    hiccup = compare(_synthetic_run("a", 3.0, 1), _synthetic_run("b", 3.0, 2, stall=5))
    (row,) = (r for r in hiccup.rows if (r.scope, r.metric) == ("overall", "p99_ms"))
    assert row.change and row.change_pct and row.p_value, hiccup.table
    assert row.change > 5 and row.change_pct > 20 and row.p_value > 0.01, hiccup.table
    assert not hiccup.regressions  # one slow interval of eleven moves the run's p99, no more
    fast = _synthetic_run("fast", 2.0, 1)
    worse = compare(fast, _synthetic_run("slow", 20.0, 2))
    verdicts = _verdicts(worse.table)
    assert verdicts["p50_ms"] == verdicts["p99_ms"] == "regression", worse.table
    assert verdicts["rps"] == verdicts["errors"] == "no significant change"
    assert {(r.scope, r.metric) for r in worse.regressions} >= {("GET /x", "p50_ms")}
    assert _verdicts(compare(_synthetic_run("slow", 20.0, 2), fast).table)["p50_ms"] == (
        "improvement")
    small = _verdicts(compare(_synthetic_run("a", 10.0, 3), _synthetic_run("b", 13.0, 4)).table)
    assert small["p50_ms"] == "no significant change"  # +30 %, significant, but 3 ms
    slight = _verdicts(compare(_synthetic_run("a", 60.0, 5), _synthetic_run("b", 66.0, 6)).table)
    assert slight["p50_ms"] == "no significant change"  # +6 ms, significant, but 10 %
    few = _verdicts(compare(_synthetic_run("a", 2.0, 7, 3), _synthetic_run("b", 20.0, 8, 3)).table)
    assert few["p50_ms"] == "too few samples"  # the final, partial interval left out: 2 a side


@pytest.mark.slow
async def test_compare_marks_a_regression_and_not_noise(demo_url: str, tmp_path: Path) -> None:
    """Against the demo server: the three runs go side by side, so a busy machine slows all of
    them alike; 2 ms against 100 ms answers is a margin no scheduling noise closes."""
    path = tmp_path / "h.sqlite"

    async def run(delay: int) -> loadnb.Result:
        return await loadnb.arun(f"{demo_url}delay?delay_ms={delay}", rate=50, duration="3s",
                                 interval="0.25s", history=str(path))

    fast, fast2, slow = await asyncio.gather(run(2), run(2), run(100))
    worse = compare(fast.run_id, slow.run_id, path=path)
    verdicts = _verdicts(worse.table)
    assert verdicts["p50_ms"] == verdicts["p99_ms"] == "regression", worse.table
    assert verdicts["rps"] != "regression"
    assert "regression" in worse._repr_html_() and "GET /delay" in set(worse.table.scope)
    same = compare(fast, fast2)
    assert not same.regressions, same.table
    assert same.as_dict()["regressions"] == 0
    from bokeh.models import Model

    assert isinstance(worse.chart(), Model)


def test_every_snapshot_field_has_a_column_and_rows_are_written_by_name() -> None:
    """A new Snapshot field without a history column (and migration) fails here, not in a run."""
    from dataclasses import fields as dataclass_fields

    from loadnb.history.writer import snapshot_row
    from loadnb.metrics.snapshot import Snapshot

    columns = [name for name, _ in SNAPSHOT_COLUMNS]
    assert {f.name for f in dataclass_fields(Snapshot)} <= set(columns)
    snap = Snapshot(1.0, 2.0, 3.0, 4, 5, 6, 7.0, 8.0, 9.0, 10.0, event="set ?token=abc",
                    interval_errors={"HTTP 500": 2})
    row = dict(zip(["run_id", "seq", *columns], snapshot_row("r", 1, snap), strict=True))
    assert (row["elapsed_time"], row["completed_requests"], row["peak_rps"]) == (2.0, 5, 9.0)
    assert row["interval_errors"] == '{"HTTP 500":2}' and "abc" not in row["event"]
