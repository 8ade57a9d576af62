"""The send lag's p99 per interval is exact: the k-th smallest lag, whatever the shape."""

from __future__ import annotations

import math
from array import array

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadnb.engine.arrivals import kth, p99_ms


def exact(values: np.ndarray) -> float:
    k = max(0, math.ceil(0.99 * values.size) - 1)
    return float(np.sort(values)[k]) * 1e3


@pytest.mark.parametrize("shape", ["grid", "ties", "heavy", "constant", "ascending",
                                   "descending", "one_spike", "all_late", "strided"])
@pytest.mark.parametrize("n", [1, 2, 99, 100, 4095, 4096, 37_500, 100_001])
def test_the_p99_is_the_exact_99th_percentile(shape: str, n: int) -> None:
    rng = np.random.default_rng(n)
    values = {
        "grid": rng.integers(0, 5, n) * 1e-4 + rng.random(n) * 1e-6,
        "ties": rng.integers(0, 3, n) * 1e-3,
        "heavy": rng.pareto(1.5, n) * 1e-4,
        "constant": np.full(n, 2.5e-4),
        "ascending": np.linspace(0, 1e-2, n),
        "descending": np.linspace(1e-2, 0, n),
        "one_spike": np.where(np.arange(n) == n // 2, 0.3, 1e-4),
        "all_late": 0.01 + rng.random(n) * 1e-5,
        # every 16th lag late, each later than the last: the sample's threshold is above the
        # answer, and the whole interval is partitioned
        "strided": np.where(np.arange(n) % 16 == 0, np.arange(n) * 1e-6, 0.0),
    }[shape]
    lags = array("d", values.tolist())
    assert p99_ms(lags) == exact(values)
    assert not lags  # taken


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=9000),
       st.integers(0, 8999))
def test_kth_is_the_kth_smallest(values: list[float], k: int) -> None:
    v = np.array(values, dtype=np.float64)
    k = min(k, v.size - 1)
    assert kth(v, k) == float(np.sort(v)[k])


def test_no_lag_is_nan() -> None:
    assert math.isnan(p99_ms(array("d")))
