"""``benchmarks/recovery.py`` reads, from the send lags of a run held on purpose, how long the
open model took to catch up after each stall."""

from __future__ import annotations

import math
from array import array

import pytest

from benchmarks.recovery import ON_TIME_MS, catch_ups


def test_a_catch_up_ends_at_the_first_arrival_due_after_the_stall_that_left_on_time() -> None:
    rate, stall = 1000.0, 0.005  # arrival k due at k ms
    late, on_time = 2.0 * ON_TIME_MS / 1e3, 0.5 * ON_TIME_MS / 1e3
    lags = array("d", [on_time] * 3000)
    for k in range(500, 520):  # held at 0.5 s: late until the arrival due at 520 ms
        lags[k] = late
    for k in range(1000, 2000):  # held at 1.0 s: never on time again before the next stall
        lags[k] = late
    got = catch_ups(lags, rate, [0.5, 1.0, 2.0], stall)
    assert got[0] == pytest.approx(0.520 - 0.505)
    assert math.isnan(got[1])
    assert got[2] == pytest.approx(0.0, abs=1e-9)  # nothing was late after the last one
