"""loadnb's own metrics as plain data, updated once per tick, read by the exporters.

The run calls :meth:`LoadMetrics.update` once per tick with the cumulative per-name totals (any
object with ``completed``, ``failed``, ``cancelled`` and a ``latency`` histogram with ``counts``,
``total`` and ``sum_us``: loadnb's ``IntervalStats`` and ``Histogram`` fit), the active users,
the requests in flight and the dropped arrivals so far. It keeps one immutable :class:`LoadState`
(:attr:`LoadMetrics.current`) that the Prometheus exporter (:mod:`~loadnb.observe.exporter`) and
the OTLP pusher (:mod:`~loadnb.observe.otlp`) render, and tells its listeners.

The duration histogram has fixed bounds (:data:`BOUNDS`, seconds) built from loadnb's log buckets
(growth ``growth``, default 1.01 = ``loadnb.metrics.histogram.GROWTH``): a log bucket counts under
every bound at or above the value it reports (its geometric middle), so a cumulative count is exact
but for values within 1 % of a bound, and ``+Inf``, ``_count`` equal the histogram's ``total``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..text.redact import redact_text

__all__ = ["BOUNDS", "GROWTH", "HistogramLike", "LoadMetrics", "LoadState", "NameSeries",
           "NameTotals", "cumulative_buckets"]

#: The duration histogram's bucket bounds (``le``), seconds.
BOUNDS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                             2.5, 5.0, 10.0, 30.0, 60.0)
#: loadnb's log-bucket growth (``loadnb.metrics.histogram.GROWTH``; a test checks they agree).
GROWTH = 1.01


class HistogramLike(Protocol):
    """What is read of a latency histogram: bucket i holds values in [G**i, G**(i+1)) µs."""

    @property
    def counts(self) -> npt.NDArray[np.int64]: ...
    @property
    def total(self) -> int: ...
    @property
    def sum_us(self) -> float: ...


class NameTotals(Protocol):
    """One request name's cumulative totals (``loadnb.metrics.stats.IntervalStats`` fits)."""

    @property
    def completed(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def cancelled(self) -> int: ...
    @property
    def latency(self) -> HistogramLike: ...


@dataclass(frozen=True)
class NameSeries:
    """One name's exported values: requests by result, the duration histogram (cumulative counts
    per bound of :data:`BOUNDS`, then ``count`` for ``+Inf``), its sum in seconds."""

    name: str
    ok: int
    failed: int
    cancelled: int
    buckets: tuple[int, ...]
    count: int
    sum_s: float


@dataclass(frozen=True)
class LoadState:
    """Everything exported, at one moment (Unix times in seconds)."""

    run_id: str
    start_time: float
    time: float
    names: tuple[NameSeries, ...] = ()
    active_users: int = 0
    in_flight: int = 0
    dropped: int = 0
    version: int = 0  #: 0 before the first update, then +1 each


def cumulative_buckets(hist: HistogramLike, bounds: Sequence[float] = BOUNDS,
                       growth: float = GROWTH) -> tuple[int, ...]:
    """The histogram's cumulative count at each bound (``le``, seconds)."""
    return _BucketMap(bounds, growth).cumulative(hist)


class _BucketMap:
    """Log-bucket index → fixed bound, computed once per bucket count."""

    def __init__(self, bounds: Sequence[float], growth: float) -> None:
        self.bounds, self.growth = tuple(bounds), growth
        self._idx: dict[int, npt.NDArray[np.intp]] = {}

    def cumulative(self, hist: HistogramLike) -> tuple[int, ...]:
        counts = hist.counts
        idx = self._idx.get(counts.size)
        if idx is None:
            middles = np.power(self.growth, np.arange(counts.size) + 0.5)  # µs
            idx = self._idx[counts.size] = np.searchsorted(
                middles, np.asarray(self.bounds) * 1e6, side="right").astype(np.intp)
        cum = np.concatenate(([0], np.cumsum(counts)))
        return tuple(int(c) for c in cum[idx])


class LoadMetrics:
    """The state both exporters read (see the module's doc). ``run_id`` labels every series."""

    def __init__(self, run_id: str, *, bounds: Sequence[float] = BOUNDS,
                 growth: float = GROWTH, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(run_id, str) or not run_id:
            raise ValueError("run_id must be a non-empty string")
        if list(bounds) != sorted(set(bounds)) or not all(
                math.isfinite(b) and b > 0 for b in bounds):
            raise ValueError("histogram bounds must be increasing positive numbers")
        self._clock = clock
        self._map = _BucketMap(bounds, growth)
        self._shown: dict[str, str] = {}
        self._cache: dict[str, tuple[tuple[int, int, int, int], NameSeries]] = {}
        self._listeners: list[Callable[[LoadState], None]] = []
        now = clock()
        self.bounds = tuple(bounds)
        self.current = LoadState(run_id, now, now)

    @property
    def run_id(self) -> str:
        """The run's id (the ``run_id`` label)."""
        return self.current.run_id

    def subscribe(self, listener: Callable[[LoadState], None]) -> Callable[[], None]:
        """Call ``listener(state)`` after each update; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def update(self, totals: Mapping[str, NameTotals], active_users: int, in_flight: int,
               dropped: int) -> LoadState:
        """The new state from the run's cumulative totals so far (once per tick)."""
        names = _one_per_name(self._series(name, t) for name, t in totals.items())
        cur = self.current
        self.current = LoadState(cur.run_id, cur.start_time, self._clock(), names,
                                 int(active_users), int(in_flight), int(dropped), cur.version + 1)
        for listener in list(self._listeners):
            listener(self.current)
        return self.current

    def _series(self, name: str, t: NameTotals) -> NameSeries:
        hist = t.latency
        key = (t.completed, t.failed, t.cancelled, hist.total)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        shown = self._shown.get(name)
        if shown is None:
            shown = self._shown[name] = redact_text(name)
        series = NameSeries(shown, t.completed, t.failed, t.cancelled,
                            self._map.cumulative(hist), hist.total, hist.sum_us / 1e6)
        self._cache[name] = (key, series)
        return series


def _one_per_name(series: Iterable[NameSeries]) -> tuple[NameSeries, ...]:
    """One series per shown name: names that redact alike (``?token=a``, ``?token=b``) add up
    (an exposition with a series twice is refused whole)."""
    out: dict[str, NameSeries] = {}
    for s in series:
        had = out.get(s.name)
        out[s.name] = s if had is None else NameSeries(
            s.name, had.ok + s.ok, had.failed + s.failed, had.cancelled + s.cancelled,
            tuple(a + b for a, b in zip(had.buckets, s.buckets, strict=True)),
            had.count + s.count, had.sum_s + s.sum_s)
    return tuple(out.values())
