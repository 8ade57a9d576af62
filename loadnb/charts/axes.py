"""What every loadnb chart draws alike: the widget's, the HTML report's, the capacity, sweep and
comparison charts.

Axis ticks read like numbers people write (:data:`TICKS_JS`, :func:`readable_axes`): ``950``,
``1.5k``, ``100k``, ``2.5M``, ``1B``, ``0.05`` — never ``1.000e+5``, which is what Bokeh's default
formatter shows from 100,000 up. The suffixes: k (thousand), M (million), B (billion), T.

Throughput is drawn from full intervals only (:func:`drawn_rate`, :func:`drawn_rates`): a run's
last snapshot (phase ``done``) covers what was left of the last interval when the load ended,
often a few milliseconds of requests finishing; its rate (those responses over that sliver) is
exact, but drawn as the line's last point it looked like a fall at the end of every run (or a
spike) that did not happen. When that interval is shorter than half the one before it, its rate
is drawn as a gap (NaN), as ``peak_rps`` leaves it out; its requests stay in every count, in
``df`` and in the tables, which are exact.

Bokeh is imported only inside :func:`readable_axes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from bokeh.models import Plot

P = TypeVar("P", bound="Plot")

#: A Bokeh ``CustomJSTickFormatter`` body (``tick``, ``ticks``): a tick as people write it. Up to
#: three significant digits, more only when the ticks are closer than that (a zoomed axis), so
#: neighbours never look alike; trailing zeros dropped; k, M, B, T from a thousand up.
TICKS_JS = """
const units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]];
const size = Math.abs(tick);
if (!isFinite(tick)) return String(tick);
if (size < 1e-12) return "0";
let div = 1, suffix = "";
for (const [d, s] of units) {
  if (size >= d * (1 - 1e-9)) { div = d; suffix = s; break; }
}
let step = Infinity;
for (let i = 1; i < ticks.length; i++) {
  const gap = Math.abs(ticks[i] - ticks[i - 1]);
  if (gap > 0 && gap < step) step = gap;
}
const v = tick / div;
let digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v)) + 1e-9));
if (isFinite(step)) digits = Math.max(digits, Math.ceil(-Math.log10(step / div) - 1e-9));
digits = Math.min(digits, 12);
let text = v.toFixed(digits);
if (text.includes(".")) text = text.replace(/0+$/, "").replace(/\\.$/, "");
if (text === "-0") text = "0";
return text + suffix;
"""


def readable_axes(fig: P) -> P:
    """Give every numeric axis of ``fig`` (linear or log; not categorical or datetime ones) the
    :data:`TICKS_JS` formatter, one shared by its axes; returns ``fig``. Call it after the last
    axis is added."""
    from bokeh.models import ContinuousAxis, CustomJSTickFormatter, DatetimeAxis

    formatter = CustomJSTickFormatter(code=TICKS_JS)
    for side in (fig.left, fig.right, fig.above, fig.below):
        for axis in side:
            if isinstance(axis, ContinuousAxis) and not isinstance(axis, DatetimeAxis):
                axis.formatter = formatter
    return fig


def drawn_rate(rate: float, seconds: float, previous_seconds: float, phase: str) -> float:
    """``rate`` as a throughput chart draws it: NaN for a run's final, partial interval (phase
    ``done``, ``seconds`` long, shorter than half the ``previous_seconds`` interval before it)."""
    if phase == "done" and previous_seconds > 0 and seconds < previous_seconds / 2:
        return math.nan
    return float(rate)


def drawn_rates(elapsed: Sequence[float], rates: Sequence[float],
                phases: Sequence[str]) -> list[float]:
    """The rates of a run's snapshots (``elapsed_time``, ``current_rps``, ``phase``) as a
    throughput chart draws them (see :func:`drawn_rate`)."""
    out = [float(r) for r in rates]
    if len(out) >= 2:
        before = elapsed[-3] if len(out) >= 3 else 0.0
        out[-1] = drawn_rate(out[-1], elapsed[-1] - elapsed[-2], elapsed[-2] - before,
                             phases[-1])
    return out


__all__ = ["TICKS_JS", "drawn_rate", "drawn_rates", "readable_axes"]
