"""The benchmarks keep every send lag of the open model without making the run pay for it.

Figure 6 and ``benchmarks/send_lag.py`` keep the engine's send lags as the run goes, from inside
the monitor's tick (:func:`benchmarks.child.record_send_lags`). Kept as Python floats, the copy
made one object per send on the engine's loop — at 100,000/s about 1.5 ms of every tick, a hold
the open model's pacer then had to catch up on, and that the raw open-loop reference (which keeps
its lags in an ``array('d')``) did not pay.
"""

from __future__ import annotations

from array import array

from benchmarks.child import record_send_lags
from loadnb.engine.generator import Engine


def test_the_kept_send_lags_are_copied_as_c_doubles_in_the_order_sent() -> None:
    original = Engine.take_send_lag
    try:
        lags, p99s = record_send_lags()
        engine = Engine.__new__(Engine)  # only what take_send_lag reads
        engine.send_lags = array("d", [0.001, 0.003, 0.002])
        Engine.take_send_lag(engine)
        engine.send_lags = array("d", [0.004])
        Engine.take_send_lag(engine)
    finally:
        Engine.take_send_lag = original  # type: ignore[method-assign]
    assert isinstance(lags, array) and lags.typecode == "d"
    assert list(lags) == [0.001, 0.003, 0.002, 0.004]
    assert len(p99s) == 2 and p99s[0] == 3.0
