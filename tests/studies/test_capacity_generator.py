"""Which alerts make a capacity step the generator's, not the target's (``GENERATOR_RULES``): a
step whose run fired one of them is not counted against the target. Unit tests on a made-up
run record (no load)."""

from __future__ import annotations

import pytest

from loadnb.metrics.histogram import Histogram
from loadnb.metrics.stats import IntervalStats
from loadnb.record.record import RunRecord
from loadnb.results.result import Result
from loadnb.rules.alert_engine import AlertEvent
from loadnb.spec.config import make_spec
from loadnb.studies.capacity import judge_step
from tests.ui.widget_helpers import snap


def step_result(*rules: str) -> Result:
    """A 2-second step at 100 requests/s that met its SLO, with ``rules`` fired in it."""
    record = RunRecord("cap", make_spec("http://127.0.0.1:9/", rate=100, duration="2s",
                                        workers=2))
    answered = IntervalStats("GET /", started=200, completed=200,
                             latency=Histogram.from_seconds([0.01] * 200))
    record.add(snap(elapsed_time=2.0, completed_requests=200, failed_requests=0,
                    current_rps=100.0, phase="done"), answered, {"GET /": answered}, 2.0)
    record.thresholds = [{"expr": "errors<1%", "observed": 0.0, "passed": True}]
    record.alerts = [AlertEvent(rule, "fired", 1.0) for rule in rules]
    return Result(record)


@pytest.mark.parametrize("rule", ["generator_cpu", "generator_lag", "worker_saturated"])
def test_a_step_where_the_generator_was_saturated_is_the_generators(rule: str) -> None:
    assert judge_step(step_result(rule), 100.0, None)["generator"] is True


def test_a_step_with_no_generator_alert_is_the_targets() -> None:
    row = judge_step(step_result("low_success_rate"), 100.0, None)
    assert row["passed"] is True and row["generator"] is False
