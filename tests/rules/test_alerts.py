"""The alert rule engine on scripted snapshot sequences: each default rule fires and clears at the
right snapshot, once; user rules and failing rules; summary and console output."""

from __future__ import annotations

import math
from typing import Any

import pytest

from loadnb.console import format_alert, format_summary
from loadnb.metrics.custom import CustomMetric
from loadnb.metrics.snapshot import Snapshot
from loadnb.metrics.stats import IntervalStats, merge_intervals
from loadnb.record.record import RunRecord
from loadnb.record.summary import summary_of
from loadnb.rules.alert_engine import AlertEngine, AlertEvent, AlertRule, as_rules, expression_rule
from loadnb.rules.alerts import (
    default_rules,
    dropped_arrivals,
    generator_cpu,
    generator_lag,
    iterations_failing,
    low_rps,
    low_success_rate,
    no_response,
    target_down,
    waiting_for_connection,
)
from loadnb.runner.judge import IntervalView
from loadnb.spec.config import make_spec

BASE: dict[str, Any] = dict(
    timestamp=0.0, progress_percent=0.0, active_users=1, completed_requests=0,
    failed_requests=0, success_rate=100.0, current_rps=100.0, peak_rps=100.0,
    estimated_completion=0.0, cpu_percent=10.0, loop_lag_ms=1.0)


def sequence(rule: AlertRule, rows: list[dict[str, Any]]) -> list[AlertEvent]:
    """Judge ``rows`` (snapshot fields, 0.5 s apart) with ``rule`` alone; the events made."""
    events: list[AlertEvent] = []
    engine = AlertEngine([rule], events)
    for i, row in enumerate(rows):
        engine(Snapshot(**{**BASE, "elapsed_time": 0.5 * (i + 1), **row}))
    return events


def spans(events: list[AlertEvent]) -> list[tuple[float, float | None]]:
    return [(e.fired_at, e.cleared_at) for e in events]


def test_low_success_rate_fires_below_90_and_clears_above() -> None:
    rows = [{"success_rate": math.nan}, {"success_rate": 95.0}, {"success_rate": 89.9},
            {"success_rate": 80.0}, {"success_rate": 90.0}, {"success_rate": 50.0}]
    events = sequence(low_success_rate(), rows)
    assert spans(events) == [(1.5, 2.5), (3.0, None)]
    assert events[0].message == "Low success rate: 89.9% (below 90%)"


def test_low_rps_judges_only_steady_open_model_intervals() -> None:
    open_ = {"target_rate": 100.0}
    rows = [{"current_rps": 10.0},                                   # closed model: not judged
            {**open_, "current_rps": 60.0},
            {**open_, "current_rps": 40.0},                          # fires (below 50)
            {**open_, "current_rps": 20.0, "event": "set to 100 req/s"},  # not judged
            {**open_, "current_rps": 30.0},
            {**open_, "current_rps": 55.0},                          # clears
            {**open_, "current_rps": 0.0, "phase": "done"}]          # final: not judged
    events = sequence(low_rps(), rows)
    assert spans(events) == [(1.5, 3.0)]
    assert "Low RPS: 40.0 req/s (target 100.0" in events[0].message


def test_generator_cpu_needs_two_intervals_and_skips_the_final_one() -> None:
    rows = [{"cpu_percent": 95.0}, {"cpu_percent": 50.0}, {"cpu_percent": 95.0},
            {"cpu_percent": 97.0}, {"cpu_percent": 99.0}, {"cpu_percent": 20.0},
            {"cpu_percent": 99.0}, {"cpu_percent": 99.0}, {"cpu_percent": 1.0, "phase": "done"}]
    assert spans(sequence(generator_cpu(), rows)) == [(2.0, 3.0), (4.0, None)]


def test_generator_lag_is_sustained_or_severe() -> None:
    rows = [{"loop_lag_ms": 60.0}, {"loop_lag_ms": 5.0}, {"loop_lag_ms": 300.0},
            {"loop_lag_ms": 5.0}, {"loop_lag_ms": 70.0}, {"loop_lag_ms": 80.0},
            {"loop_lag_ms": math.nan, "phase": "done"}]
    events = sequence(generator_lag(), rows)
    assert spans(events) == [(1.5, 2.0), (3.0, None)]
    assert "ran up to 300 ms late" in events[0].message


def test_dropped_arrivals_fire_in_intervals_that_drop() -> None:
    rows = [{"dropped_arrivals": 0}, {"dropped_arrivals": 4, "interval_dropped": 4},
            {"dropped_arrivals": 9, "interval_dropped": 5}, {"dropped_arrivals": 9}]
    events = sequence(dropped_arrivals(max_in_flight=10), rows)
    assert spans(events) == [(1.0, 2.0)]
    assert "4 requests were not sent because 10 were already in flight" in events[0].message


def test_waiting_for_connection_needs_two_intervals() -> None:
    rows = [{"waiting_for_connection": 3}, {"waiting_for_connection": 0},
            {"waiting_for_connection": 3}, {"waiting_for_connection": 2},
            {"waiting_for_connection": 0}]
    events = sequence(waiting_for_connection(pool_size=4), rows)
    assert spans(events) == [(2.0, 2.5)]
    assert "pool of 4" in events[0].message


def test_default_rules_are_the_briefs_two_then_the_generators() -> None:
    assert [r.name for r in default_rules()] == [
        "target_down", "no_response", "low_success_rate", "low_rps", "iterations_failing",
        "generator_cpu", "generator_lag", "worker_saturated", "dropped_arrivals",
        "waiting_for_connection"]


def test_each_fire_and_clear_is_news_once() -> None:
    told: list[tuple[str, str]] = []
    events: list[AlertEvent] = []
    engine = AlertEngine([low_success_rate()], events)
    for rate in (50.0, 40.0, 30.0, 95.0, 96.0):
        news = engine(Snapshot(**{**BASE, "elapsed_time": 1.0, "success_rate": rate}))
        told += [(event.rule, what) for _, event, what in news]
    assert told == [("low_success_rate", "fired"), ("low_success_rate", "cleared")]
    assert len(events) == 1


def test_plain_callables_are_rules_and_a_failing_rule_is_disabled_with_a_warning() -> None:
    warnings: list[str] = []
    calls = []

    def boom(snap: Snapshot) -> str | None:
        calls.append(snap.elapsed_time)
        raise ZeroDivisionError("bad rule")

    rules = as_rules([lambda s: "always", lambda s: None, boom])
    assert [r.name for r in rules] == ["<lambda>", "<lambda>#2", "boom"]
    events: list[AlertEvent] = []
    engine = AlertEngine(rules, events, warn=warnings.append)
    for t in (0.5, 1.0):
        engine(Snapshot(**{**BASE, "elapsed_time": t}))
    assert [(e.rule, e.message, e.fired_at) for e in events] == [("<lambda>", "always", 0.5)]
    assert calls == [0.5] and len(warnings) == 1 and "bad rule" in warnings[0]


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="callable"):
        as_rules([42])
    with pytest.raises(ValueError, match="sustain"):
        AlertRule("x", lambda s: None, sustain=0)


def test_console_prints_fired_and_cleared_alerts() -> None:
    event = AlertEvent("low_success_rate", "Low success rate: 50.0% (below 90%)", 1.5, 3.0)
    assert format_alert(event, "fired") == (
        "⚠ alert low_success_rate fired at 1.5 s: Low success rate: 50.0% (below 90%)")
    assert format_alert(event, "cleared") == "✓ alert low_success_rate cleared at 3.0 s"
    table = format_summary(summary_of({"alerts": [event.as_dict(), {
        "rule": "generator_cpu", "message": "Generator bottleneck", "fired_at": 4.0,
        "cleared_at": None}]}))
    lines = [line for line in table.splitlines() if "fired" in line]
    assert lines[0].split() == ["Alerts", "low_success_rate:", "fired", "1.5", "s,", "cleared",
                                "3.0", "s:", "Low", "success", "rate:", "50.0%", "(below",
                                "90%)"]
    assert "generator_cpu: fired 4.0 s, still active at the end: Generator bottleneck" in lines[1]


# -- issue 20, item 3: a task whose iterations keep failing ------------------------------------
def interval_sequence(rule: AlertRule, intervals: list[dict[str, list[int]]]) -> list[AlertEvent]:
    """Judge intervals (task -> [iterations, failed], 0.5 s apart; the failures raised
    TypeError) with ``rule`` alone, reading each interval as the run does."""
    record = RunRecord("r", make_spec("http://127.0.0.1:9/"))
    events: list[AlertEvent] = []
    engine = AlertEngine([rule], events, interval=IntervalView(record))
    for i, iterations in enumerate(intervals):
        errors = {f"{task}\x00exception: TypeError": f for task, (_, f) in iterations.items() if f}
        iv = IntervalStats("home", 3, 3, 0, iterations={k: list(v) for k, v in iterations.items()},
                           iteration_errors=errors)
        snap = Snapshot(**{**BASE, "elapsed_time": 0.5 * (i + 1)})
        record.add(snap, merge_intervals([iv]), {"home": iv}, 0.5)
        engine(snap)
    return events


def test_iterations_failing_fires_when_a_task_keeps_failing_and_clears() -> None:
    events = interval_sequence(iterations_failing(), [
        {"buy": [4, 4]},                        # one interval is not "keeps failing"
        {"buy": [4, 4], "browse": [12, 0]},     # two in a row: fires (browse does not hide it)
        {},                                     # no iteration ended: not judged
        {"browse": [9, 0]},                     # buy did not run: nothing changes for buy
        {"buy": [4, 1]},                        # a quarter: clears
        {"buy": [2, 2], "browse": [10, 0]},
        {"browse": [10, 0]},
        {"buy": [3, 2]},                        # two thirds, in two buy intervals: fires again
    ])
    assert spans(events) == [(1.0, 2.5), (4.0, None)]
    assert events[0].message == ("Iterations keep failing: buy 4 of 4 in the last interval "
                                 "(exception: TypeError)")


def test_iterations_failing_is_quiet_without_a_scenario() -> None:
    assert interval_sequence(iterations_failing(), [{}, {}, {}]) == []
    assert interval_sequence(iterations_failing(), [{"browse": [9, 0]}] * 3) == []
    rule = iterations_failing()  # one rule in two runs: each run's streaks are its own
    assert interval_sequence(rule, [{"buy": [1, 1]}]) == []
    assert interval_sequence(rule, [{"buy": [1, 1]}]) == []


# -- issue 20, item 9: words that match the facts ----------------------------------------------
def at(**row: Any) -> Snapshot:
    return Snapshot(**{**BASE, "elapsed_time": 1.0, **row})


def test_an_alert_never_contradicts_its_bound_through_rounding() -> None:
    assert low_success_rate().check(at(success_rate=89.96)) == (
        "Low success rate: 89.96% (below 90%)")
    assert low_success_rate().check(at(success_rate=89.999996)) == (
        "Low success rate: 89.999996% (below 90%)")
    assert low_success_rate().check(at(success_rate=42.04)) == "Low success rate: 42.0% (below 90%)"
    rps = low_rps().check(at(current_rps=49.96, target_rate=100.0))
    assert rps is not None and rps.startswith("Low RPS: 49.96 req/s (target 100.0;"), rps
    cpu = generator_cpu().check(at(cpu_percent=90.4))
    assert cpu is not None and "used 90.4% of a CPU core" in cpu, cpu
    lag = generator_lag().check(at(loop_lag_ms=50.2))
    assert lag is not None and "ran up to 50.2 ms late" in lag, lag


class GaugeView:
    """One interval whose gauge ``queue`` was last set to ``last``."""

    def __init__(self, last: float) -> None:
        self.metric = CustomMetric("queue", "gauge", count=1, last=last, min=last, max=last)
        self.duration = 0.5

    def stats(self, name: str | None) -> IntervalStats | None:
        return None

    def tallies(self) -> IntervalStats:
        return IntervalStats("all")

    def custom(self, metric: str) -> CustomMetric | None:
        return self.metric if metric == "queue" else None


@pytest.mark.parametrize(("expr", "last", "shown"), [
    ("queue.last<=5", 5.0001, "5.0001"), ("queue.last>5", 4.99996, "4.99996"),
    ("queue.last<5", 5.0, "5"), ("queue.last<5", 7.25, "7.25")])
def test_an_expression_alert_shows_the_value_on_the_side_that_broke_it(
        expr: str, last: float, shown: str) -> None:
    events: list[AlertEvent] = []
    engine = AlertEngine([expression_rule(expr)], events, interval=GaugeView(last))
    engine(at())
    assert [e.message for e in events] == [f"{expr} broken: {shown} in the last interval"]


def test_target_down_is_refused_or_dns_and_no_response_is_the_rest() -> None:
    down, silent = target_down(), no_response(timeout=1.0)
    refused = at(completed_requests=0, failed_requests=40, success_rate=0.0, interval_failed=40,
                 interval_errors={"connection refused": 40})
    timed_out = at(completed_requests=0, failed_requests=40, success_rate=0.0,
                   interval_failed=40, interval_errors={"timeout": 40})
    reset = at(completed_requests=0, failed_requests=40, success_rate=0.0, interval_failed=40,
               interval_errors={"connection reset": 40})
    assert down.check(refused) == "the target refused every connection"
    assert down.check(timed_out) is None and down.check(reset) is None
    assert silent.check(refused) is None
    assert silent.check(timed_out) == "every request timed out after 1 s"
    assert no_response(timeout=0.5).check(timed_out) == "every request timed out after 0.5 s"
    assert no_response().check(timed_out) == "every request timed out"
    assert silent.check(reset) == (
        "every request failed: connection reset (the target accepted connections)")
    assert silent.check(at(completed_requests=1, failed_requests=40, success_rate=2.4,
                           interval_failed=40, interval_errors={"timeout": 40})) is None
    assert silent.check(at(completed_requests=0, failed_requests=40, success_rate=0.0,
                           interval_failed=40, interval_errors={"timeout": 20, "HTTP 500": 20})
                        ) is None
    assert default_rules(timeout=2.0)[1].check(timed_out) == "every request timed out after 2 s"


def test_the_summary_says_no_answer_first_not_target_down() -> None:
    table = format_summary(summary_of({"run_id": "r1", "state": "done", "alerts": [
        {"rule": "no_response", "message": "every request timed out after 0.5 s",
         "fired_at": 0.5, "cleared_at": None}]})).splitlines()
    assert table[1] == "  ⚠ NO ANSWER: every request timed out after 0.5 s", table
    assert "TARGET DOWN" not in "\n".join(table)
