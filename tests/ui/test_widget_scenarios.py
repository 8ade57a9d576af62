"""The LoadTest widget with scenarios and stages: the form, its refusals, and the drawn plan."""

from __future__ import annotations

from typing import Any

import pytest

from loadnb.spec.config import make_spec
from loadnb.ui import LoadTest
from tests.bundles import source_rows
from tests.ui.widget_helpers import journey, not_async, other


def test_a_scenario_with_stages_constructs_and_the_fields_show_what_applies() -> None:
    stages = [("3s", 5), ("4s", 5), ("3s", 0)]
    test = LoadTest(journey, url="http://127.0.0.1:9/", stages=stages)
    spec = test.spec
    assert spec.scenario is not None and spec.scenario.names == ("journey",)
    assert spec.stages == ((3.0, 5.0), (4.0, 5.0), (3.0, 0.0)) and spec.duration == 10.0
    c = test.controls
    assert c.url.description == "Base URL" and c.url.value == "http://127.0.0.1:9/"
    assert c.target.value == spec.target == "scenario journey on http://127.0.0.1:9/"
    assert c.target.disabled and c.target in c.box.children
    assert (c.duration.value, c.ramp_up.value, c.users.value) == (10.0, 0.0, 5)
    assert c.duration.disabled and c.ramp_up.disabled and c.users.disabled and c.model.disabled
    assert not c.url.disabled and not test.start_button.disabled
    assert "stages: 3 s → 5 users, 4 s → 5 users, 3 s → 0 users (10 s)" in c.plan_note.value
    assert repr(test) == ("<LoadTest scenario journey on http://127.0.0.1:9/ stages up to 5 users, "
                          "10 s: idle, 0 result(s)>")
    # the scenario may also be given as scenario=, after the URL; weights by a mapping
    same = LoadTest("http://127.0.0.1:9/", scenario={journey: 3, other: 1}, users=2)
    assert same.spec.scenario is not None and same.spec.scenario.weights == (3.0, 1.0)
    assert same.controls.target.value == "scenario journey, other on http://127.0.0.1:9/"
    # no base URL: the scenario uses absolute URLs
    absolute = LoadTest(journey, users=2, duration=1)
    assert absolute.spec.url == "" and absolute.controls.target.value == "scenario journey"
    absolute.controls.users.value = 3  # an edit keeps the empty URL valid
    assert absolute.controls.error is None and absolute.spec.users == 3
    # a plain URL test has no Target field and its usual label
    plain = LoadTest("http://127.0.0.1:9/", users=2)
    assert plain.controls.url.description == "Target URL"
    assert plain.controls.target not in plain.controls.box.children


@pytest.mark.parametrize("kwargs", [
    {"stages": [("3s", 5)], "duration": 5}, {"stages": [("3s", 5)], "ramp_up": 1},
    {"stages": [("3s", 5)], "rate": 10}, {"rate_stages": [("3s", 5)], "users": 3},
    {"stages": []}, {"stages": [("3s", 0)]}, {"stages": [("soon", 5)]},
    {"stages": [("3s", 5)], "rate_stages": [("3s", 5)]}, {"shape": 5, "duration": 3},
    {"data": [1, 2]}, {"scenario": journey, "transport": "fast"},
    {"scenario": journey, "data": []}, {"scenario": journey, "data": [1], "data_mode": "often"},
    {"scenario": not_async}, {"scenario": {journey: 0}}, {"expected_interval": "10ms", "rate": 5},
    {"transport": "pigeon"},
])
def test_constructor_raises_make_spec_errors_for_scenarios_and_shapes(
        kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as expected:
        make_spec("http://h/", **kwargs)
    with pytest.raises(ValueError) as got:
        LoadTest("http://h/", **kwargs)
    assert str(got.value) == str(expected.value)


def test_url_and_scenario_are_given_once() -> None:
    with pytest.raises(ValueError, match="give the scenario once"):
        LoadTest(journey, scenario=other, url="http://h/")
    with pytest.raises(ValueError, match="give the URL once"):
        LoadTest("http://h/", url="http://h/")
    with pytest.raises(ValueError, match="invalid URL"):
        LoadTest(journey, url="ftp://h/")


def test_the_plan_is_drawn_before_the_run_and_follows_the_form() -> None:
    test = LoadTest("http://127.0.0.1:9/", users=8, duration=10, ramp_up=4)
    charts = test.dashboard.charts
    plan = charts.plan_source.data
    times, targets = test.spec.load_shape().sample(200)
    assert len(plan["plan"]) == 200 and plan["plan_time"] == times and plan["plan"] == targets
    assert plan["plan"][0] == 0.0 and plan["plan"][-1] == 8.0
    assert charts.plans["users"][0].visible and not charts.plans["rate"][0].visible
    assert source_rows(test.chart.render_bundle, "plan") == 200  # in what the page gets
    test.controls.users.value = 20  # an edit redraws the plan the next Start would run
    assert max(charts.plan_source.data["plan"]) == 20.0
    test.controls.model.value = "rate"
    test.controls.rate.value = 50.0
    assert charts.plan_source.data["plan"] == test.spec.load_shape().sample(200)[1]
    assert charts.plans["rate"][0].visible and not charts.plans["users"][0].visible
    test.controls.rate.value = 0.0  # invalid: the last valid plan stays
    assert max(charts.plan_source.data["plan"]) == 50.0
    staged = LoadTest(journey, url="http://127.0.0.1:9/", stages=[("3s", 5), ("4s", 5), ("3s", 0)])
    staged_plan = staged.dashboard.charts.plan_source.data
    assert (staged_plan["plan_time"], staged_plan["plan"]) == staged.spec.load_shape().sample(200)
    assert max(staged_plan["plan"]) == 5.0 and staged_plan["plan"][-1] == 0.0
    counted = LoadTest("http://127.0.0.1:9/", users=2, requests=100)  # no time axis: no plan
    assert counted.dashboard.charts.plan_source.data["plan"] == []
