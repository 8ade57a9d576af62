"""The alert rule engine on scripted snapshot sequences: each default rule fires and clears at the
right snapshot, once; user rules and failing rules; summary and console output."""

from __future__ import annotations

import math
from typing import Any

import pytest

from loadnb.alerts import (
    AlertEngine,
    AlertEvent,
    AlertRule,
    as_rules,
    default_rules,
    dropped_arrivals,
    generator_cpu,
    generator_lag,
    low_rps,
    low_success_rate,
    waiting_for_connection,
)
from loadnb.console import format_alert, format_summary
from loadnb.snapshot import Snapshot

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
        "target_down", "low_success_rate", "low_rps", "generator_cpu", "generator_lag",
        "dropped_arrivals", "waiting_for_connection"]


def test_each_fire_and_clear_is_told_once_to_listeners() -> None:
    told: list[tuple[str, str]] = []
    events: list[AlertEvent] = []
    engine = AlertEngine([low_success_rate()], events,
                         listeners=[lambda e, what: told.append((e.rule, what))])
    for rate in (50.0, 40.0, 30.0, 95.0, 96.0):
        engine(Snapshot(**{**BASE, "elapsed_time": 1.0, "success_rate": rate}))
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
    table = format_summary({"alerts": [event.as_dict(), {
        "rule": "generator_cpu", "message": "Generator bottleneck", "fired_at": 4.0,
        "cleared_at": None}]})
    lines = [line for line in table.splitlines() if "fired" in line]
    assert lines[0].split() == ["Alerts", "low_success_rate:", "fired", "1.5", "s,", "cleared",
                                "3.0", "s:", "Low", "success", "rate:", "50.0%", "(below",
                                "90%)"]
    assert "generator_cpu: fired 4.0 s, still active at the end: Generator bottleneck" in lines[1]
