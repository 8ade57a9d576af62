"""The threshold language: the grammar (property tests), its errors, and judging a record."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadnb import make_spec
from loadnb.judge import RunView, ThresholdJudge, lost_for_good
from loadnb.metrics import CustomMetric, Histogram, IntervalStats, merge_intervals
from loadnb.record import RunRecord
from loadnb.snapshot import Snapshot
from loadnb.thresholds import LATENCY_STATS, parse_threshold, parse_thresholds

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


@given(stat=st.sampled_from(["success", "errors"]), op=OPS, value=NUMBERS)
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
    judge(record.snapshots[-1])
    got = {t["expr"]: (t["observed"], t["passed"]) for t in record.thresholds}
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
