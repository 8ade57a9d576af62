"""Load shapes: the target (users or arrivals/s) at given times, for each kind of shape."""

from __future__ import annotations

import math

import pytest

from loadnb.spec.config import make_spec
from loadnb.spec.shape import LoadShape, check_stages
from loadnb.text.units import parse_duration


def targets(shape: LoadShape, times: list[float]) -> list[float]:
    return [shape.target(t) for t in times]


def test_constant() -> None:
    shape = LoadShape.constant(7)
    assert targets(shape, [-1.0, 0.0, 0.5, 1e6]) == [7.0] * 4
    assert LoadShape.constant(7, duration=5).duration == 5


def test_ramp_up_then_hold() -> None:
    shape = LoadShape.constant(10, ramp_up=2, duration=5)
    assert targets(shape, [0.0, 0.5, 1.0, 2.0, 4.0, 99.0]) == pytest.approx(
        [0.0, 2.5, 5.0, 10.0, 10.0, 10.0])
    assert shape.duration == 5


def test_stages_ramp_linearly_from_the_previous_target() -> None:
    shape = LoadShape.from_stages([(10, 20), (30, 20), (10, 0)])
    assert targets(shape, [0, 5, 10, 25, 40, 45, 50, 60]) == pytest.approx(
        [0, 10, 20, 20, 20, 10, 0, 0])
    assert shape.duration == 50


def test_a_zero_length_stage_is_a_step() -> None:
    shape = LoadShape.from_stages([(1, 4), (0, 8), (1, 8)])
    assert shape.target(0.5) == pytest.approx(2.0)
    assert shape.target(1.0) == 8.0  # at the step the new target holds
    assert shape.target(1.5) == 8.0 and shape.duration == 2


def test_a_function_of_time() -> None:
    shape = LoadShape(fn=lambda t: 100 - 20 * t, duration=10)
    assert targets(shape, [0, 1, 2.5, 5]) == pytest.approx([100, 80, 50, 0])
    assert shape.target(7) == 0.0  # never negative
    assert LoadShape(fn=lambda t: math.nan).target(1) == 0.0  # nor NaN
    assert LoadShape(fn=lambda t: math.inf).target(1) == 0.0  # nor infinite


def test_a_shape_needs_points_or_a_function() -> None:
    with pytest.raises(ValueError, match="needs points or a function"):
        LoadShape()


def test_sample_spans_the_run() -> None:
    times, values = LoadShape.constant(8, ramp_up=4, duration=10).sample(11)
    assert times == pytest.approx([float(t) for t in range(11)])
    assert values == pytest.approx([0, 2, 4, 6, 8, 8, 8, 8, 8, 8, 8])
    assert LoadShape.from_stages([(2, 5)]).sample(3) == ([0.0, 1.0, 2.0], [0.0, 2.5, 5.0])
    assert LoadShape(fn=lambda t: t, duration=4).sample(1) == ([0.0], [0.0])


def test_the_spec_builds_the_shape_of_its_model() -> None:
    url = "http://127.0.0.1:9/"
    ramp = make_spec(url, users=6, duration=10, ramp_up=3).load_shape()
    assert targets(ramp, [0, 1.5, 3, 9]) == pytest.approx([0, 3, 6, 6])
    rate = make_spec(url, rate=40, duration=5).load_shape()
    assert targets(rate, [0, 4.9]) == [40.0, 40.0]
    staged = make_spec(url, rate_stages=[("2s", 100), ("1s", 100), (1, 0)]).load_shape()
    assert targets(staged, [1, 2, 2.5, 3.5, 4]) == pytest.approx([50, 100, 100, 50, 0])
    shaped = make_spec(url, shape=lambda t: 2 * t, duration=3).load_shape()
    assert shaped.target(1.25) == 2.5 and shaped.duration == 3


def test_check_stages_parses_durations_and_refuses_bad_stages() -> None:
    assert check_stages([("1s", 5), (0.5, 2)], "stages", parse_duration) == ((1.0, 5.0),
                                                                               (0.5, 2.0))
    for bad, message in [
        ([], "non-empty list"), ("1s:5", "non-empty list"), ([(1, 2, 3)], "pair"),
        ([(1, -1)], "a target must be a number >= 0"), ([(1, True)], "a target must be"),
        ([(1, math.nan)], "a target must be"), ([(0, 5)], "longer than 0 s"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_stages(bad, "stages", parse_duration)
