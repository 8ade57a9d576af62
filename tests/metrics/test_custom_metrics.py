"""Custom metrics: recording through the virtual user, per-interval swap, exact merges, the
record's totals and timeline, the views (``Result.custom``, ``summary["custom"]``, the console)
and a run against the demo server on loopback."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadnb import Run, make_spec
from loadnb.console import format_summary
from loadnb.engine.vuser import VirtualUser
from loadnb.metrics.custom import CUSTOM_TIMELINE_COLUMNS, CustomMetric, custom_row
from loadnb.metrics.payload import Payload, SourceStatus, merge_payloads
from loadnb.metrics.snapshot import Snapshot
from loadnb.metrics.stats import MAX_NAMES, IntervalStats, Recorder
from loadnb.record.record import RunRecord
from loadnb.record.summary import build_summary
from loadnb.results.result import Result
from loadnb.spec.config import LoadSpec


class Ctx:
    """Just enough of a :class:`~loadnb.engine.vuser.UserContext` for the custom-metric calls."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.now = 10.0

    def clock(self) -> float:
        return self.now


def user_for(recorder: Recorder) -> tuple[VirtualUser, Ctx]:
    ctx = Ctx(recorder)
    return VirtualUser(ctx, 0), ctx  # type: ignore[arg-type]


# -- recording ---------------------------------------------------------------------------------
def test_count_gauge_timing_and_swap() -> None:
    rec = Recorder()
    user, _ = user_for(rec)
    user.count("cart_items", 3)
    user.count("cart_items")
    user.gauge("queue", 5)
    user.gauge("queue", 2)
    user.gauge("queue", 9)
    user.gauge("queue", 4)
    user.timing("checkout", 0.010)
    user.timing("checkout", 0.030)
    out = rec.swap_custom()
    assert set(out) == {"cart_items", "queue", "checkout"}
    c, g, t = out["cart_items"], out["queue"], out["checkout"]
    assert (c.kind, c.count, c.total, c.mean) == ("counter", 2, 4.0, 2.0)
    assert (g.kind, g.count, g.last, g.min, g.max) == ("gauge", 4, 4.0, 2.0, 9.0)
    assert (t.kind, t.count, t.hist.total) == ("timing", 2, 2)
    assert t.hist.max == pytest.approx(0.030)
    assert t.hist.mean == pytest.approx(0.020)
    assert rec.swap_custom() == {}  # nothing updated since: no metric in the next interval
    user.count("cart_items", 2)
    again = rec.swap_custom()
    assert list(again) == ["cart_items"] and again["cart_items"].total == 2.0


async def test_timer_measures_the_block_also_when_it_raises() -> None:
    rec = Recorder()
    user, ctx = user_for(rec)
    async with user.timer("step"):
        ctx.now += 0.25
    with pytest.raises(RuntimeError):
        async with user.timer("step"):
            ctx.now += 0.5
            raise RuntimeError("boom")
    with user.timer("step"):
        ctx.now += 1.0
    hist = rec.swap_custom()["step"].hist
    assert hist.total == 3
    assert hist.min_s == pytest.approx(0.25) and hist.max_s == pytest.approx(1.0)


def test_a_name_keeps_its_kind_and_names_are_text() -> None:
    rec = Recorder()
    user, _ = user_for(rec)
    user.count("x")
    with pytest.raises(ValueError, match="counter"):
        user.gauge("x", 1)
    with pytest.raises(ValueError):
        user.timer("x")
    with pytest.raises(ValueError):
        user.timing("x", 0.1)
    with pytest.raises(ValueError):
        user.count("")
    with pytest.raises(ValueError):
        user.count(3)  # type: ignore[arg-type]
    assert rec.swap_custom()["x"].count == 1


def test_names_beyond_the_limit_fold_into_other_with_one_warning() -> None:
    warnings: list[str] = []
    rec = Recorder(warnings.append)
    user, _ = user_for(rec)
    for i in range(MAX_NAMES + 50):
        user.count(f"n{i}")
    user.gauge("one gauge too many", 3)
    out = rec.swap_custom()
    assert out["other"].kind == "counter" and out["other"].total == 50
    assert out["other gauge"].last == 3
    assert len(warnings) == 1 and "custom metric" in warnings[0]
    assert sum(m.total for m in out.values() if m.kind == "counter") == MAX_NAMES + 50


def test_accumulators_are_cached_and_reused() -> None:
    rec = Recorder()
    user, _ = user_for(rec)
    user.count("a")
    acc = rec.custom["a"]
    rec.swap_custom()
    user.count("a")
    assert rec.custom["a"] is acc and acc.count == 1


# -- merging -----------------------------------------------------------------------------------
KINDS = st.sampled_from(["counter", "gauge", "timing"])
VALUES = st.lists(st.floats(min_value=0.0001, max_value=100.0), max_size=30)


def record(kind: str, values: list[float], name: str = "m") -> CustomMetric:
    rec = Recorder()
    user, _ = user_for(rec)
    for v in values:
        {"counter": user.count, "gauge": user.gauge, "timing": user.timing}[kind](name, v)
    return rec.swap_custom().get(name, CustomMetric(name, kind))


@settings(max_examples=200, deadline=None)
@given(kind=KINDS, values=VALUES, cuts=st.lists(st.integers(0, 30), max_size=4))
def test_merge_of_parts_equals_the_whole(kind: str, values: list[float], cuts: list[int]) -> None:
    """Intervals of one run merged in time order (``later=True``) give the whole run."""
    bounds = sorted({0, len(values), *(min(c, len(values)) for c in cuts)})
    parts = [record(kind, values[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    whole = record(kind, values)
    merged = CustomMetric("m", kind)
    for part in parts:
        merged.merge(part, later=True)
    assert merged.count == whole.count == len(values)
    assert merged.total == pytest.approx(whole.total)
    assert (merged.hist.counts == whole.hist.counts).all()
    if values:
        assert merged.min == whole.min and merged.max == whole.max
        if kind == "gauge":
            assert merged.last == whole.last == values[-1]


@settings(max_examples=100, deadline=None)
@given(kind=KINDS, a=VALUES, b=VALUES)
def test_parts_of_one_interval_merge_in_payloads(kind: str, a: list[float],
                                                  b: list[float]) -> None:
    """Two sources' parts of one interval (``later=False``): counts exact, gauges add up."""
    pa, pb = record(kind, a), record(kind, b)
    payloads = [Payload({}, SourceStatus(), {"m": pa} if a else {}),
                Payload({}, SourceStatus(), {"m": pb} if b else {})]
    merged = merge_payloads(payloads).custom
    if not a and not b:
        assert merged == {}
        return
    m = merged["m"]
    assert m.count == len(a) + len(b)
    assert m.total == pytest.approx(record(kind, a + b).total)
    if kind == "gauge":
        assert m.last == pytest.approx(sum(x[-1] for x in (a, b) if x))
    if kind == "timing":
        assert (m.hist.counts == record(kind, a + b).hist.counts).all()


def test_payloads_with_one_name_of_two_kinds_keep_both() -> None:
    one = Payload({}, SourceStatus(), {"m": record("counter", [1, 2])})
    two = Payload({}, SourceStatus(), {"m": record("gauge", [5])})
    merged = merge_payloads([one, two]).custom
    assert merged["m"].total == 3 and merged["m (gauge)"].last == 5


# -- the record and the views ------------------------------------------------------------------
def spec() -> LoadSpec:
    return make_spec("http://127.0.0.1:9/", users=1, duration=1.0)


def snap(elapsed: float) -> Snapshot:
    return Snapshot(timestamp=0.0, elapsed_time=elapsed, progress_percent=0.0, active_users=1,
                    completed_requests=0, failed_requests=0, success_rate=math.nan,
                    current_rps=0.0, peak_rps=0.0, estimated_completion=math.nan)


def filled_record() -> RunRecord:
    rec = RunRecord("abc", spec())
    intervals: list[dict[str, CustomMetric]] = [
        {"items": record("counter", [1, 2], "items"),
         "depth": record("gauge", [4, 8, 6], "depth")},
        {"items": record("counter", [3], "items"),
         "took": record("timing", [0.010, 0.020, 0.030], "took")},
        {"depth": record("gauge", [7, 1], "depth")},
    ]
    for i, custom in enumerate(intervals, start=1):
        rec.add(snap(float(i)), IntervalStats("all"), {}, 1.0, custom=custom)
    return rec


def test_the_record_adds_up_and_keeps_a_timeline() -> None:
    rec = filled_record()
    assert rec.custom["items"].total == 6 and rec.custom["items"].count == 3
    assert (rec.custom["depth"].last, rec.custom["depth"].min, rec.custom["depth"].max) == (
        1, 1, 8)
    assert rec.custom["took"].hist.total == 3
    assert len(rec.custom_timeline) == 5
    assert all(len(row) == len(CUSTOM_TIMELINE_COLUMNS) for row in rec.custom_timeline)
    rec.add(snap(4.0), IntervalStats("all"), {}, 1.0)  # callers without custom= still work
    assert len(rec.custom_timeline) == 5


def test_views_of_custom_metrics() -> None:
    rec = filled_record()
    result = Result(rec)
    frame = result.custom
    assert list(frame.columns) == list(CUSTOM_TIMELINE_COLUMNS)
    items = frame[frame.metric == "items"]
    assert list(items.elapsed_time) == [1.0, 2.0] and items.total.sum() == 6
    took = frame[frame.metric == "took"].iloc[0]
    assert took.p50_ms == pytest.approx(20.0, rel=0.01) and took.max_ms == pytest.approx(30.0)
    assert math.isnan(took.total) and math.isnan(took.last)
    depth = frame[frame.metric == "depth"]
    assert list(depth["last"]) == [6.0, 1.0] and math.isnan(depth.total.iloc[0])
    totals = result.custom_totals.set_index("metric")
    assert totals.loc["items", "total"] == 6 and totals.loc["depth", "last"] == 1
    summary = build_summary(rec)["custom"]
    assert summary["items"] == {"kind": "counter", "count": 3, "total": 6.0, "rate": 2.0}
    assert summary["depth"] == {"kind": "gauge", "count": 5, "last": 1.0, "min": 1.0,
                                "max": 8.0}
    took_s = summary["took"]
    assert took_s["kind"] == "timing" and took_s["count"] == 3
    assert took_s["max"] == 30.0 and took_s["mean"] == pytest.approx(20.0)
    assert set(took_s) == {"kind", "count", "p50", "p90", "p95", "p99", "max", "mean"}
    text = format_summary(build_summary(rec))
    custom_lines = [line for line in text.splitlines() if "items:" in line or "depth:" in line
                    or "took:" in line]
    assert len(custom_lines) == 3
    assert "Custom" in custom_lines[0]
    assert "items: counter 6 total | 2.00 /s (3 updates)" in text
    assert "depth: gauge last 1.00 | min 1.00 | max 8.00" in text
    assert "took: timing p50 " in text


def test_no_custom_block_without_custom_metrics() -> None:
    rec = RunRecord("abc", spec())
    rec.add(snap(1.0), IntervalStats("all"), {}, 1.0)
    assert build_summary(rec)["custom"] == {}
    assert "Custom" not in format_summary(build_summary(rec))
    assert Result(rec).custom.empty


def test_custom_row_of_an_empty_gauge_is_nan() -> None:
    row: dict[str, Any] = dict(zip(CUSTOM_TIMELINE_COLUMNS,
                                   custom_row(1.0, CustomMetric("g", "gauge")), strict=True))
    assert math.isnan(row["min"]) and math.isnan(row["max"]) and row["count"] == 0


# -- a run against the demo server -------------------------------------------------------------
async def test_a_scenario_that_counts_gauges_and_times(demo_url: str) -> None:
    counted: list[float] = []
    gauged: list[float] = []
    timed: list[int] = []

    async def shop(user: VirtualUser) -> None:
        n = (user.iteration % 3) + 1
        user.count("cart_items", n)
        counted.append(n)
        async with user.timer("checkout"):
            await user.get("/", name="home")
        timed.append(1)
        depth = float(user.index * 10 + user.iteration % 5)
        user.gauge("queue_depth", depth)
        gauged.append(depth)
        user.timing("think", 0.001 * n)
        timed.append(1)
        await user.sleep(0.005)  # spread the run over several intervals

    run = Run(make_spec(demo_url, scenario=shop, users=3, requests=150, interval=0.1,
                        duration=10.0))
    result = await run.run()
    summary = result.summary
    assert result.state == "done"
    custom = summary["custom"]
    assert custom["cart_items"]["count"] == len(counted)
    assert custom["cart_items"]["total"] == sum(counted)
    assert custom["queue_depth"]["count"] == len(gauged)
    assert custom["queue_depth"]["min"] == min(gauged)
    assert custom["queue_depth"]["max"] == max(gauged)
    assert custom["checkout"]["count"] + custom["think"]["count"] == len(timed)
    assert custom["checkout"]["p50"] > 0 and custom["think"]["max"] == pytest.approx(3.0, rel=0.01)
    frame = result.custom
    df_times = set(result.df.elapsed_time)
    assert set(frame.elapsed_time) <= df_times  # aligned with the snapshot intervals
    by_metric: dict[str, Any] = {str(name): g for name, g in frame.groupby("metric")}
    assert by_metric["cart_items"]["total"].sum() == sum(counted)
    assert by_metric["cart_items"]["count"].sum() == len(counted)
    for name in ("checkout", "think", "queue_depth"):
        assert by_metric[name]["count"].sum() == custom[name]["count"]
    assert by_metric["queue_depth"]["last"].iloc[-1] == custom["queue_depth"]["last"]
    # every interval that counted has its row, at that snapshot's elapsed time
    assert len(by_metric["cart_items"]) >= 2
    assert result.custom_totals.set_index("metric").loc["cart_items", "total"] == sum(counted)


async def test_a_kind_clash_in_a_scenario_counts_as_an_exception(demo_url: str) -> None:
    async def clash(user: VirtualUser) -> None:
        user.count("thing")
        await user.get("/", name="home")
        user.gauge("thing", 1)

    result = await Run(make_spec(demo_url, scenario=clash, users=1, requests=5,
                                 duration=5.0)).run()
    errors = result.summary["errors"]
    assert errors.get("exception: ValueError", 0) >= 1
    assert result.summary["custom"]["thing"]["kind"] == "counter"
