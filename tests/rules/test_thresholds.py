"""The threshold language: the grammar (property tests), its errors, and judging a record."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadnb import make_spec
from loadnb.metrics.custom import CustomMetric
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.snapshot import Snapshot
from loadnb.metrics.stats import IntervalStats, merge_intervals
from loadnb.record.record import RunRecord
from loadnb.rules.thresholds import LATENCY_STATS, parse_threshold, parse_thresholds
from loadnb.runner.judge import IntervalView, RunView, ThresholdJudge, lost_for_good

NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\")
OPS = st.sampled_from(["<", "<=", ">", ">="])
NUMBERS = st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda v: round(v, 3))


def escape(name: str) -> str:
    return name.replace("]", "\\]")


@given(stat=st.sampled_from(sorted(LATENCY_STATS)), name=st.none() | st.text(NAME_CHARS, min_size=1,
       max_size=30).filter(str.strip), op=OPS, value=NUMBERS, unit=st.sampled_from(["ms", "s"]),
       space=st.sampled_from(["", " "]))
def test_latency_expressions_round_trip(stat: str, name: str | None, op: str, value: float,
                                        unit: str, space: str) -> None:
    where = "" if name is None else f"[{escape(name)}]"
    t = parse_threshold(f"{stat}{where}{space}{op}{space}{value}{unit}")
    assert (t.stat, t.name, t.op, t.custom) == (stat, name, op, None)
    assert t.bound == pytest.approx(value * (1000 if unit == "s" else 1))
    assert parse_threshold(t.expr) == t  # the normalised text parses to the same threshold


@given(stat=st.sampled_from(["success", "errors", "checks", "iterations_failed"]), op=OPS,
       value=st.floats(min_value=0, max_value=100).map(lambda v: round(v, 3)))
def test_percent_expressions(stat: str, op: str, value: float) -> None:
    t = parse_threshold(f"{stat} {op} {value}%")
    assert (t.stat, t.op, t.bound, t.unit) == (stat, op, value, "%")


@given(metric=st.from_regex(r"[a-z_][a-z0-9_\-]{0,12}", fullmatch=True),
       stat=st.sampled_from(["total", "rate", "count", "last", "min", "max", "mean"]), op=OPS,
       value=NUMBERS)
def test_custom_metric_expressions(metric: str, stat: str, op: str, value: float) -> None:
    t = parse_threshold(f"{metric}.{stat}{op}{value}")
    assert (t.custom, t.stat, t.op, t.bound, t.name) == (metric, stat, op, value, None)


@pytest.mark.parametrize(("expr", "message"), [
    ("errors<1", "errors is a percentage"),
    ("p95<300", "a time bound needs a unit"),
    ("latency<3ms", "unknown metric 'latency'"),
    ("p95[/x<3ms", "no closing ]"),
    ("p95[]<3ms", "is empty"),
    ("p95 300ms", "expected METRIC[NAME] OP VALUE"),
    ("p95<3ms and more", "expected an operator"),
    ("rps>5%", "takes no unit"),
    ("checkout.p95<800", "a time bound needs a unit"),
    ("checkout.p95[x]<800ms", "not per request name"),
    ("", "like 'p95<300ms'"),
    ("checks>99", "checks is a percentage"),
    ("checks<2ms", "checks is a percentage"),
    ("iterations_failed<2ms", "takes no unit 'ms'"),
])
def test_bad_expressions_say_which_and_what(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match="threshold") as info:
        parse_threshold(expr)
    assert message in str(info.value)
    if expr:
        assert repr(expr) in str(info.value)


def test_make_spec_refuses_a_bad_threshold_and_abort_without_thresholds() -> None:
    with pytest.raises(ValueError, match="threshold 'p99<1'"):
        make_spec("http://127.0.0.1:9/", thresholds=["p95<1s", "p99<1"])
    with pytest.raises(ValueError, match="abort_on_fail needs thresholds"):
        make_spec("http://127.0.0.1:9/", abort_on_fail=True)
    spec = make_spec("http://127.0.0.1:9/", thresholds="p95<1s")
    assert [t.expr for t in spec.thresholds] == ["p95<1s"]
    assert spec.public_params()["thresholds"] == ["p95<1s"]


def record_with(**names: tuple[int, int, list[float]]) -> RunRecord:
    """A record of one 2 s interval: per name (completed, failed, latencies in seconds)."""
    record = RunRecord("r", make_spec("http://127.0.0.1:9/"))
    by_name = {}
    for name, (ok, bad, lat) in names.items():
        iv = IntervalStats(name, ok + bad, ok, bad, latency=Histogram.from_seconds(lat))
        by_name[name] = iv
    snap = Snapshot(0.0, 2.0, 100.0, 0, 0, 0, math.nan, 0.0, 0.0, 0.0)
    record.add(snap, merge_intervals(by_name.values()), by_name, 2.0)
    return record


def test_thresholds_judge_the_whole_run_and_each_name() -> None:
    record = record_with(fast=(98, 2, [0.010] * 100), slow=(50, 0, [0.400] * 50))
    record.custom["checkout"] = CustomMetric("checkout", "timing")  # declared, never timed
    judge = ThresholdJudge(parse_thresholds([
        "errors<3%", "success>99%", "rps>70", "p95[fast]<20ms", "p95[slow]<300ms",
        "p95[missing]<1s", "max<500ms", "checkout.p95<1s"]), record)
    got = {t["expr"]: (t["observed"], t["passed"]) for t in judge(record.snapshots[-1])}
    assert got["errors<3%"] == (pytest.approx(100 * 2 / 150), True)
    assert got["success>99%"][1] is False
    assert got["rps>70"] == (75.0, True)
    assert got["p95[fast]<20ms"][1] is True and got["p95[slow]<300ms"][1] is False
    assert got["p95[missing]<1s"] == (None, False)  # no data does not pass (a typo shows)
    assert got["max<500ms"][1] is True
    assert got["checkout.p95<1s"] == (None, False)


def test_lost_for_good() -> None:
    record = record_with(all_=(90, 10, [0.6] * 100))
    view = RunView(record)
    t = {e: parse_threshold(e) for e in ("max<500ms", "p99<500ms", "errors<5%", "success>95%",
                                         "failed<5", "rps>1")}
    assert lost_for_good(t["max<500ms"], t["max<500ms"].observe(view), record, None)
    assert not lost_for_good(t["p99<500ms"], 600.0, record, None)  # may still come down
    assert not lost_for_good(t["errors<5%"], 10.0, record, None)  # no budget known
    assert lost_for_good(t["errors<5%"], 10.0, record, 100)  # 10 of 100 planned: spent
    assert not lost_for_good(t["errors<5%"], 10.0, record, 1000)  # 10 of 1000: not yet
    assert lost_for_good(t["success>95%"], 90.0, record, 100)
    assert lost_for_good(t["failed<5"], 10.0, record, None)
    assert not lost_for_good(t["rps>1"], 0.5, record, None)


# -- issue 20, item 3: iterations and checks in the threshold language -------------------------
def record_with_iterations(iterations: dict[str, list[int]],
                           checks: dict[str, list[int]] | None = None) -> RunRecord:
    """A record of one 2 s interval with 10 good requests and these iteration / check counts
    (carried by the one request name, as the recorder does)."""
    record = RunRecord("r", make_spec("http://127.0.0.1:9/"))
    iv = IntervalStats("home", 10, 10, 0, latency=Histogram.from_seconds([0.01] * 10),
                       iterations={k: list(v) for k, v in iterations.items()},
                       checks={k: list(v) for k, v in (checks or {}).items()})
    snap = Snapshot(0.0, 2.0, 100.0, 0, 10, 0, 100.0, 5.0, 5.0, 0.0)
    record.add(snap, merge_intervals([iv]), {"home": iv}, 2.0)
    return record


def judged(record: RunRecord, *exprs: str) -> dict[str, tuple[object, bool]]:
    judge = ThresholdJudge(parse_thresholds(exprs), record)
    return {t["expr"]: (t["observed"], t["passed"]) for t in judge(record.snapshots[-1])}


def test_iterations_failed_is_a_share_with_a_percent_and_a_count_without() -> None:
    record = record_with_iterations({"browse": [150, 0], "buy": [50, 50]})
    got = judged(record, "iterations_failed<1%", "iterations_failed<30%",
                 "iterations_failed[buy]<1", "iterations_failed[browse]<1",
                 "iterations_failed<=50", "iterations_failed[nope]<1")
    assert got["iterations_failed<1%"] == (25.0, False)      # 50 of 200 iterations
    assert got["iterations_failed<30%"] == (25.0, True)
    assert got["iterations_failed[buy]<1"] == (50.0, False)  # a count for one task
    assert got["iterations_failed[browse]<1"] == (0.0, True)
    assert got["iterations_failed<=50"] == (50.0, True)
    assert got["iterations_failed[nope]<1"] == (None, False)  # a task that never ran: a typo
    t = parse_threshold("iterations_failed[buy] < 2%")
    assert (t.stat, t.name, t.op, t.bound, t.unit) == ("iterations_failed", "buy", "<", 2.0, "%")
    assert parse_threshold("iterations_failed<1").unit == ""


def test_checks_is_the_share_of_check_passes() -> None:
    record = record_with_iterations({}, {"has items": [98, 2], "is 200": [100, 0]})
    got = judged(record, "checks>99%", "checks>98%", "checks[is 200]>99.9%",
                 "checks[has items]>=98%", "checks[missing]>1%")
    assert got["checks>99%"] == (99.0, False)  # 198 of 200 passed: not more than 99 %
    assert got["checks>98%"] == (99.0, True)
    assert got["checks[is 200]>99.9%"] == (100.0, True)
    assert got["checks[has items]>=98%"] == (98.0, True)
    assert got["checks[missing]>1%"] == (None, False)
    no_checks = record_with_iterations({"browse": [10, 0]})
    assert judged(no_checks, "checks>99%")["checks>99%"] == (None, False)
    no_scenario = record_with_iterations({})
    assert judged(no_scenario, "iterations_failed<1%")["iterations_failed<1%"] == (None, False)


def test_a_count_of_failed_iterations_is_lost_for_good_once_past() -> None:
    record = record_with_iterations({"buy": [5, 3]})
    count, share = parse_threshold("iterations_failed[buy]<2"), parse_threshold(
        "iterations_failed<1%")
    view = RunView(record)
    assert lost_for_good(count, count.observe(view), record, None)
    assert not lost_for_good(share, share.observe(view), record, None)  # may still come down


# -- issue 20, item 7: bounds that cannot mean anything are bad input --------------------------
@pytest.mark.parametrize(("expr", "message"), [
    ("p95<-5ms", "cannot be negative"),
    ("max>-1s", "cannot be negative"),
    ("requests>-1", "cannot be negative"),
    ("failed<-3", "cannot be negative"),
    ("rps>-10", "cannot be negative"),
    ("rps>-1/s", "cannot be negative"),
    ("p95[GET /x]<-1ms", "cannot be negative"),
    ("checkout.p95<-5ms", "cannot be negative"),
    ("cart.count>-1", "cannot be negative"),
    ("iterations_failed[buy]<-1", "cannot be negative"),
    ("success>150%", "between 0 and 100"),
    ("errors<-1%", "between 0 and 100"),
    ("errors<100.5%", "between 0 and 100"),
    ("checks>101%", "between 0 and 100"),
    ("iterations_failed<-2%", "between 0 and 100"),
    ("p99<500us", "ms, s, sec, m, min or h"),
    ("p99<5d", "ms, s, sec, m, min or h"),
])
def test_bounds_that_cannot_mean_anything_are_refused(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match="threshold") as info:
        parse_threshold(expr)
    assert message in str(info.value), str(info.value)
    assert repr(expr) in str(info.value)
    with pytest.raises(ValueError, match="threshold"):
        make_spec("http://127.0.0.1:9/", thresholds=[expr])


@pytest.mark.parametrize(("expr", "bound"), [
    ("p99<1h", 3_600_000.0), ("p99<2m", 120_000.0), ("p95<1.5min", 90_000.0),
    ("p50<2sec", 2_000.0), ("max<=0.5s", 500.0), ("p90<250ms", 250.0),
    ("checkout.p95<1min", 60_000.0), ("success>=0%", 0.0), ("errors<=100%", 100.0),
    ("failed<=0", 0.0), ("cart.last>-5", -5.0), ("cart.total>-2.5", -2.5),
])
def test_every_duration_unit_and_the_edges_are_accepted(expr: str, bound: float) -> None:
    assert parse_threshold(expr).bound == pytest.approx(bound)


def test_the_interval_tallies_add_up_every_names_iterations_and_checks() -> None:
    """Two workers' carriers: iterations on two names of one interval, checks on both."""
    record = RunRecord("r", make_spec("http://127.0.0.1:9/"))
    a = IntervalStats("home", 4, 4, 0, iterations={"buy": [3, 3]}, checks={"ok": [4, 0]},
                      iteration_errors={"buy\x00exception: TypeError": 3})
    b = IntervalStats("cart", 2, 2, 0, iterations={"buy": [2, 1], "browse": [5, 0]},
                      checks={"ok": [1, 1]}, iteration_errors={"buy\x00exception: TypeError": 1})
    record.add(Snapshot(0.0, 1.0, 50.0, 0, 6, 0, 100.0, 6.0, 6.0, 0.0), merge_intervals([a, b]),
               {"home": a, "cart": b}, 1.0)
    view = IntervalView(record)
    tallies = view.tallies()
    assert tallies.iterations == {"buy": [5, 4], "browse": [5, 0]}
    assert tallies.checks == {"ok": [5, 1]}
    assert tallies.iteration_errors == {"buy\x00exception: TypeError": 4}
    merged = view.stats(None)
    assert merged is not None and merged.iterations == tallies.iterations
    assert parse_threshold("iterations_failed<50%").observe(view) == pytest.approx(40.0)
    assert parse_threshold("iterations_failed[buy]<1").observe(view) == 4.0
    assert parse_threshold("checks[ok]>90%").observe(view) == pytest.approx(500 / 6)
