"""Histograms and the recorder: bounded relative error, exact merge, round-trips, settlement."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from loadnb.metrics.histogram import RELATIVE_ERROR, Histogram
from loadnb.metrics.stats import Recorder, merge_intervals

latencies = st.lists(st.floats(min_value=2e-6, max_value=100.0), min_size=1, max_size=400)


def exact_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@settings(max_examples=150, deadline=None)
@given(latencies, st.sampled_from([1, 50, 90, 99, 99.9, 99.99, 100]))
def test_percentile_within_stated_error(values: list[float], q: float) -> None:
    hist = Histogram.from_seconds(values)
    got, want = hist.percentile(q), exact_percentile(values, q)
    assert abs(got - want) <= want * RELATIVE_ERROR * 1.0000001
    assert hist.max == max(values) and hist.total == len(values)


@settings(max_examples=100, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=6))
def test_merge_of_parts_equals_whole(parts: list[list[float]]) -> None:
    whole = Histogram.from_seconds([v for part in parts for v in part])
    merged = Histogram()
    for part in parts:
        merged.merge(Histogram.from_seconds(part))
    assert np.array_equal(merged.counts, whole.counts)
    assert (merged.total, merged.min_s, merged.max_s) == (whole.total, whole.min_s, whole.max_s)
    assert math.isclose(merged.sum_us, whole.sum_us, rel_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(latencies)
def test_encode_decode_round_trip(values: list[float]) -> None:
    hist = Histogram.from_seconds(values)
    back = Histogram.decode(hist.encode())
    assert np.array_equal(back.counts, hist.counts)
    assert (back.total, back.sum_us, back.min_s, back.max_s) == (
        hist.total, hist.sum_us, hist.min_s, hist.max_s)
    assert len(hist.encode()) <= 40 + 10 * len(set(values))


def test_empty_histogram_is_nan() -> None:
    hist = Histogram()
    assert all(math.isnan(v) for v in hist.percentiles([50, 99]))
    assert math.isnan(hist.mean) and math.isnan(hist.max)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 40), st.integers(0, 40)),
                min_size=1, max_size=12))
def test_interval_counts_sum_to_totals(ticks: list[tuple[int, int, int]]) -> None:
    """Each tick: start some requests, finish some ok / some failed; settle at the end."""
    rec = Recorder()
    acc = rec.stats_for("GET /")
    intervals = []
    in_flight = 0
    for _, start, finish in ticks:
        acc.started += start
        in_flight += start
        done = min(finish, in_flight)
        for i in range(done):
            if i % 3:
                acc.response(True, 200, 0.01, 0.005, 2)
            else:
                acc.error("timeout", "TimeoutError: x")
        in_flight -= done
        intervals.append(merge_intervals(rec.swap().values()))
    assert rec.in_flight() == in_flight
    intervals.append(merge_intervals(rec.swap(settle=True).values()))
    total = merge_intervals(intervals)  # what the run record adds up
    assert total.started == sum(start for _, start, _ in ticks)
    assert total.started == total.completed + total.failed + total.cancelled
    assert total.cancelled == intervals[-1].cancelled == in_flight
    assert total.latency.total == total.completed


def test_names_fold_into_other_beyond_the_cap() -> None:
    warnings: list[str] = []
    rec = Recorder(on_warning=warnings.append)
    for i in range(1005):
        rec.stats_for(f"/item/{i}").started += 1
    assert len(rec._current) == 1001 and rec.stats_for("/new").name == "other"
    assert len(warnings) == 1 and "1000" in warnings[0]


def test_error_samples_hide_url_passwords() -> None:
    rec = Recorder()
    rec.stats_for("x").error("connection refused", "Cannot connect to http://u:hunter2@h:1/")
    iv = rec.swap()["x"]
    assert "hunter2" not in iv.samples["connection refused"]
    assert "u:***@h:1" in iv.samples["connection refused"]
