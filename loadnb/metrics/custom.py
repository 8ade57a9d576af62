"""Custom metrics: counters, gauges and timings recorded by scenario code, merged exactly.

:class:`CustomAccumulator` is the hot-path side (one per name, updated in place by the virtual
user); at each tick it becomes a :class:`CustomMetric`, plain mergeable data that travels like the
built-in interval stats (sources, the run record, the history, exports).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

import numpy as np

from .histogram import Histogram

#: Kinds of custom metrics (see :class:`CustomMetric`).
CUSTOM_KINDS = ("counter", "gauge", "timing")


@dataclass(slots=True)
class CustomMetric:
    """A user-defined metric over an interval (or a run): mergeable like the built-in numbers.

    - ``counter``: ``total`` adds up (``count`` is the number of increments);
    - ``gauge``: the ``last`` value set, with ``min`` and ``max`` (``count`` settings); merging
      parts of one interval from several processes adds their last values (each process holds
      its share, e.g. its own queue);
    - ``timing``: durations in seconds in a :class:`Histogram` (``hist``), percentiles like the
      latency's.
    """

    name: str
    kind: str
    count: int = 0
    total: float = 0.0
    last: float = math.nan
    min: float = math.inf
    max: float = -math.inf
    #: a timing's only (the codec keeps no histogram for a counter or a gauge)
    hist: Histogram = field(default_factory=Histogram, metadata={"kinds": ("timing",)})

    @property
    def mean(self) -> float:
        """Counter: mean increment; gauge: NaN (use last/min/max); timing: mean in seconds."""
        if self.kind == "timing":
            return self.hist.mean
        if self.kind == "counter" and self.count:
            return self.total / self.count
        return math.nan

    def merge(self, other: CustomMetric, *, later: bool = True) -> None:
        """Add ``other`` (same name and kind). For gauges, ``later`` says ``other`` comes after
        this one in time (its last value wins); ``later=False`` merges parts of the same interval
        (their last values add up)."""
        if other.kind != self.kind:
            raise ValueError(f"custom metric {self.name!r} is a {self.kind}, not a {other.kind}")
        if other.count == 0:
            return
        if self.kind == "gauge" and not math.isnan(other.last):
            if later or math.isnan(self.last):
                self.last = other.last
            else:
                self.last += other.last
        self.count += other.count
        self.total += other.total
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.hist.merge(other.hist)


class CustomAccumulator:
    """The hot-path accumulator of one custom metric for the current interval.

    Updated in place by the virtual user (:meth:`~loadnb.engine.vuser.VirtualUser.count`, ``gauge``,
    ``timer``/``timing``): a few attribute updates, or one ``array('d')`` append for a timing
    (seconds); :meth:`take` turns the interval into a :class:`CustomMetric` at the tick and starts
    the next one (the same object stays in use for the whole run).
    """

    __slots__ = ("name", "kind", "count", "total", "last", "min", "max", "values")

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind
        self.count = 0
        self.total = 0.0
        self.last = math.nan
        self.min = math.inf
        self.max = -math.inf
        self.values: array[float] = array("d")

    def add(self, value: float) -> None:
        """Counter: add ``value``."""
        self.count += 1
        self.total += value

    def set(self, value: float) -> None:
        """Gauge: the value is now ``value``."""
        self.count += 1
        self.last = value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def take(self) -> CustomMetric:
        """The interval so far as a :class:`CustomMetric`; the accumulator starts empty again."""
        metric = CustomMetric(self.name, self.kind)
        if self.kind == "timing":
            values, self.values = self.values, array("d")  # before numpy views the old one
            seconds = np.frombuffer(values, dtype=np.float64)
            metric.hist.add_seconds(seconds)
            metric.count = int(seconds.size)
            if seconds.size:
                metric.total = float(seconds.sum())
                metric.min, metric.max = metric.hist.min_s, metric.hist.max_s
        else:
            metric.count, metric.total = self.count, self.total
            metric.last, metric.min, metric.max = self.last, self.min, self.max
            self.total, self.last, self.min, self.max = 0.0, math.nan, math.inf, -math.inf
        self.count = 0
        return metric


#: Columns of a custom metric's timeline row (:func:`custom_row`; ``RunRecord.custom_timeline``).
CUSTOM_TIMELINE_COLUMNS: tuple[str, ...] = (
    "elapsed_time", "metric", "kind", "count", "total", "last", "min", "max", "mean",
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")
_CUSTOM_QS = (50, 90, 95, 99, 100)


def custom_row(elapsed: float, metric: CustomMetric) -> tuple[object, ...]:
    """One row of :data:`CUSTOM_TIMELINE_COLUMNS` for ``metric`` over an interval ending at
    ``elapsed``: a counter fills ``total`` and ``mean`` (mean increment), a gauge ``last``,
    ``min`` and ``max``, a timing ``mean`` and the ``*_ms`` columns (milliseconds); the columns
    that do not apply are NaN."""
    nan = math.nan
    if metric.kind == "timing":
        qs = [v * 1e3 for v in metric.hist.percentiles(_CUSTOM_QS)]
        return (elapsed, metric.name, metric.kind, metric.count, nan, nan, nan, nan,
                metric.hist.mean * 1e3, *qs)
    if metric.kind == "gauge":
        return (elapsed, metric.name, metric.kind, metric.count, nan, metric.last,
                metric.min if metric.count else nan, metric.max if metric.count else nan, nan,
                nan, nan, nan, nan, nan)
    return (elapsed, metric.name, metric.kind, metric.count, metric.total, nan, nan, nan,
            metric.mean, nan, nan, nan, nan, nan)


__all__ = ["CUSTOM_KINDS", "CUSTOM_TIMELINE_COLUMNS", "CustomAccumulator", "CustomMetric",
           "custom_row"]
