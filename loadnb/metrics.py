"""Counters and latency histograms: an O(1) record on the hot path, vectorised work once per tick.

A completed request costs a few list appends and integer increments (:class:`NameStats`); at each
tick :meth:`Recorder.swap` turns the interval's raw latencies into log-bucket histograms with numpy
(:class:`Histogram`, relative error at most :data:`RELATIVE_ERROR`), adds them to the cumulative
ones and returns the interval as plain data. Histograms merge by adding and encode to a few KB, so
intervals from several processes (scale-out, later) merge exactly.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .redact import redact_text

#: Bucket growth factor: bucket i holds [G**i, G**(i+1)) microseconds.
GROWTH = 1.01
#: Bound on the relative error of any reported percentile (the geometric middle of a bucket).
RELATIVE_ERROR = math.sqrt(GROWTH) - 1
_INV_LOG_G = 1.0 / math.log(GROWTH)
#: Buckets cover 1 µs .. about 2.7 hours; larger values land in the last bucket (max stays exact).
N_BUCKETS = 2400
OTHER_NAME = "other"
#: Distinct request names kept per run; more fold into ``other`` (unbounded dynamic URLs).
MAX_NAMES = 1000
SAMPLE_CHARS = 2000

IntArray = npt.NDArray[np.int64]
#: Percentiles a histogram's :meth:`Histogram.summary` gives (key, percentile).
SUMMARY_PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p99.9", 99.9), ("p99.99", 99.99))


def bucket_of(micros: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Bucket index of each value in microseconds (values below 1 µs share bucket 0)."""
    idx = np.floor(np.log(np.maximum(micros, 1.0)) * _INV_LOG_G).astype(np.intp)
    return np.minimum(idx, N_BUCKETS - 1)


def bucket_value(index: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """The value reported for a bucket: its geometric middle, in microseconds."""
    return np.asarray(np.power(GROWTH, index + 0.5), dtype=np.float64)


class Histogram:
    """Latency distribution with bounded relative error; exact count, sum, min and max.

    >>> h = Histogram.from_seconds([0.010, 0.020, 0.030])
    >>> round(h.percentile(50) * 1000, 1)  # ms, within 0.5 %
    20.0
    """

    __slots__ = ("counts", "total", "sum_us", "min_s", "max_s")

    def __init__(self) -> None:
        self.counts: IntArray = np.zeros(N_BUCKETS, dtype=np.int64)
        self.total = 0
        self.sum_us = 0.0
        self.min_s = math.inf
        self.max_s = 0.0

    @classmethod
    def from_seconds(cls, values: Iterable[float]) -> Histogram:
        """A histogram of latencies given in seconds."""
        hist = cls()
        hist.add_seconds(np.fromiter(values, dtype=np.float64))
        return hist

    def add_seconds(self, seconds: npt.NDArray[np.float64]) -> None:
        """Add many values (seconds) at once: one vectorised pass."""
        if seconds.size == 0:
            return
        micros = seconds * 1e6
        self.counts += np.bincount(bucket_of(micros), minlength=N_BUCKETS)
        self.total += int(micros.size)
        self.sum_us += float(micros.sum())
        self.min_s = min(self.min_s, float(seconds.min()))
        self.max_s = max(self.max_s, float(seconds.max()))

    def merge(self, other: Histogram) -> None:
        """Add another histogram into this one (exact: merge of parts equals the whole)."""
        if other.total == 0:
            return
        self.counts += other.counts
        self.total += other.total
        self.sum_us += other.sum_us
        self.min_s = min(self.min_s, other.min_s)
        self.max_s = max(self.max_s, other.max_s)

    def percentiles(self, qs: Iterable[float]) -> list[float]:
        """Values in seconds at each percentile q (0..100); NaN when empty; q=100 is the max."""
        qs = list(qs)
        if self.total == 0:
            return [math.nan] * len(qs)
        cum = np.cumsum(self.counts)
        ranks = np.maximum(np.ceil(np.asarray(qs, dtype=np.float64) / 100.0 * self.total), 1)
        idx = np.searchsorted(cum, ranks, side="left").astype(np.intp)
        values = np.clip(bucket_value(idx) / 1e6, self.min_s, self.max_s)
        out = [float(v) for v in values]
        return [self.max_s if q >= 100 else v for q, v in zip(qs, out, strict=True)]

    def percentile(self, q: float) -> float:
        """The value in seconds at percentile q (0..100)."""
        return self.percentiles([q])[0]

    @property
    def mean(self) -> float:
        """Exact mean in seconds; NaN when empty."""
        return self.sum_us / self.total / 1e6 if self.total else math.nan

    @property
    def max(self) -> float:
        """Exact maximum in seconds; NaN when empty."""
        return self.max_s if self.total else math.nan

    def summary(self) -> dict[str, float | None]:
        """``{p50, p90, p95, p99, p99.9, p99.99, max, mean}`` in ms (None when empty)."""
        values = self.percentiles(q for _, q in SUMMARY_PERCENTILES)
        out = {key: v * 1e3 for (key, _), v in zip(SUMMARY_PERCENTILES, values, strict=True)}
        out["max"], out["mean"] = self.max * 1e3, self.mean * 1e3
        return {k: (None if math.isnan(v) else round(v, 3)) for k, v in out.items()}

    _HEAD = struct.Struct("<4sQddd I")

    def encode(self) -> bytes:
        """Compact bytes (only non-empty buckets), for sending an interval between processes."""
        nz = np.flatnonzero(self.counts)
        head = self._HEAD.pack(b"LNH1", self.total, self.sum_us, self.min_s, self.max_s, nz.size)
        return head + nz.astype("<u2").tobytes() + self.counts[nz].astype("<u8").tobytes()

    @classmethod
    def decode(cls, data: bytes) -> Histogram:
        """The inverse of :meth:`encode`."""
        magic, total, sum_us, min_s, max_s, n = cls._HEAD.unpack_from(data)
        if magic != b"LNH1":
            raise ValueError("not an encoded loadnb histogram")
        off = cls._HEAD.size
        idx = np.frombuffer(data, dtype="<u2", count=n, offset=off).astype(np.intp)
        vals = np.frombuffer(data, dtype="<u8", count=n, offset=off + 2 * n).astype(np.int64)
        hist = cls()
        hist.counts[idx] = vals
        hist.total, hist.sum_us, hist.min_s, hist.max_s = total, sum_us, min_s, max_s
        return hist


MAX_CORRECTIONS = 10_000


def corrected_extras(value: float, expected: float) -> list[float]:
    """The values HdrHistogram's ``record_corrected_value`` adds besides ``value`` itself.

    A closed-model user that waited ``value`` seconds for a response, when it was expected to
    send every ``expected`` seconds, missed the requests it would have sent meanwhile; they would
    have waited ``value - expected``, ``value - 2*expected``, … (down to ``expected``).
    """
    out: list[float] = []
    if expected <= 0:
        return out
    missing = value - expected
    while missing >= expected and len(out) < MAX_CORRECTIONS:
        out.append(missing)
        missing -= expected
    return out


@dataclass(slots=True)
class NameStats:
    """The hot-path accumulator of one request name for the current interval: the one place a
    finished request is recorded, whatever sent it (a chain, an arrival, a virtual user).

    Callers keep a reference and call :meth:`response` / :meth:`error` directly: no lookup, no
    queue, no histogram work per request. ``expected`` is the interval a closed-model user is
    expected to keep (coordinated-omission correction; ``inf`` when off): a response slower than
    it also records the requests the user would have sent meanwhile, in ``latency`` only.
    """

    name: str
    expected: float = math.inf
    started: int = 0
    completed: int = 0
    failed: int = 0
    bytes: int = 0
    corrected: int = 0
    # array('d'), not list: 8 bytes a value, and the tick reads it in place (np.frombuffer)
    # instead of converting a list of float objects (2 ms per 55,000 values at full speed).
    latency: array[float] = field(default_factory=lambda: array("d"))
    service: array[float] = field(default_factory=lambda: array("d"))
    status: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    #: named checks of this name's responses: check name -> [passes, fails] (scenarios only)
    checks: dict[str, list[int]] = field(default_factory=dict)

    def response(self, ok: bool, status: int, latency: float, service: float, nbytes: int,
                 kind: str | None = None) -> None:
        """Record a request that got a response (ok or not), with its times in seconds:
        ``latency`` from its (intended) start, ``service`` from the actual send.

        A failed one counts under ``kind`` (default ``HTTP <status>``; a failed check names
        itself).
        """
        if ok:
            self.completed += 1
        else:
            self.failed += 1
            kind = kind or f"HTTP {status}"
            self.errors[kind] = self.errors.get(kind, 0) + 1
        self.status[status] = self.status.get(status, 0) + 1
        self.latency.append(latency)
        self.service.append(service)
        self.bytes += nbytes
        if latency > self.expected:
            extras = corrected_extras(latency, self.expected)
            self.latency.extend(extras)
            self.corrected += len(extras)

    def error(self, kind: str, message: str, nbytes: int = 0) -> None:
        """Record a request that failed without a usable response (timeout, reset, …)."""
        self.failed += 1
        self.bytes += nbytes
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if kind not in self.samples:
            self.samples[kind] = redact_text(message)[:SAMPLE_CHARS]

    def sample(self, kind: str, text: str) -> None:
        """Keep ``text`` (redacted, capped) as the evidence of error ``kind``, once per interval
        (the first one wins); not on the hot path: called for failures only."""
        if kind not in self.samples:
            self.samples[kind] = redact_text(text)[:SAMPLE_CHARS]

    def check(self, name: str, passed: bool) -> None:
        """Count one pass or fail of the named check ``name``."""
        counts = self.checks.get(name)
        if counts is None:
            counts = self.checks[name] = [0, 0]
        counts[0 if passed else 1] += 1


def _add_counts(into: dict[str, list[int]], other: dict[str, list[int]]) -> None:
    for key, counts in other.items():
        mine = into.get(key)
        if mine is None:
            into[key] = list(counts)
        else:
            mine[0] += counts[0]
            mine[1] += counts[1]


@dataclass(slots=True)
class IntervalStats:
    """One request name's counts and histograms for one interval (plain, mergeable data)."""

    name: str
    started: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    bytes: int = 0
    corrected: int = 0
    latency: Histogram = field(default_factory=Histogram)
    service: Histogram = field(default_factory=Histogram)
    status: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    #: named checks: check name -> [passes, fails]
    checks: dict[str, list[int]] = field(default_factory=dict)
    #: scenario iterations (never requests): task -> [iterations, failed]; carried by one name
    #: of the interval (see :meth:`Recorder.swap`), so read them on the merged ``overall``
    iterations: dict[str, list[int]] = field(default_factory=dict)
    #: why iterations failed: ``"task\x00kind"`` -> count, samples under the same key
    iteration_errors: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        """Requests that ended in this interval: completed + failed + cancelled."""
        return self.completed + self.failed + self.cancelled

    def merge(self, other: IntervalStats) -> None:
        """Add ``other`` (same name, another interval or process) into this one."""
        self.started += other.started
        self.completed += other.completed
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.bytes += other.bytes
        self.corrected += other.corrected
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        for code, n in other.status.items():
            self.status[code] = self.status.get(code, 0) + n
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        for kind, text in other.samples.items():
            self.samples.setdefault(kind, text)
        if other.checks:
            _add_counts(self.checks, other.checks)
        if other.iterations:
            _add_counts(self.iterations, other.iterations)
        for key, n in other.iteration_errors.items():
            self.iteration_errors[key] = self.iteration_errors.get(key, 0) + n


class Recorder:
    """Per-name accumulators for the current interval, and per-name counts of requests started
    and ended so far (to settle the ones never ended as cancelled, and to count those in flight).

    ``expected`` turns on coordinated-omission correction for every name (see
    :class:`NameStats`). ``on_warning`` is told once when request names overflow
    :data:`MAX_NAMES` and fold into ``"other"``. Cumulative histograms are not kept here: the
    run record adds the intervals up (one place, whatever the number of sources).
    """

    def __init__(self, on_warning: Callable[[str], None] | None = None, *,
                 expected: float | None = None) -> None:
        self._current: dict[str, NameStats] = {}
        self._counts: dict[str, list[int]] = {}  # name -> [started, ended] before this interval
        self._on_warning = on_warning
        self._expected = math.inf if expected is None else expected
        self._folded = False
        self._custom: dict[str, CustomAccumulator] = {}
        self._custom_folded = False
        self._iterations: dict[str, list[int]] = {}  # task -> [iterations, failed], pending
        self._iteration_errors: dict[str, int] = {}
        self._iteration_samples: dict[str, str] = {}
        self._check_names: dict[object, str] = {}

    def warn(self, text: str) -> None:
        """Tell the run a plain-language warning (once per text is the caller's business)."""
        if self._on_warning is not None:
            self._on_warning(text)

    def check_label(self, key: object) -> str:
        """``check 1``, ``check 2``…: the name of an unnamed check (a lambda), by the order its
        code was first seen in the run."""
        label = self._check_names.get(key)
        if label is None:
            label = self._check_names[key] = f"check {len(self._check_names) + 1}"
        return label

    def iteration(self, task: str, error: str | None = None, sample: str = "") -> None:
        """Count one scenario iteration of ``task`` (failed with ``error`` kind, when given):
        iterations are never requests."""
        counts = self._iterations.get(task)
        if counts is None:
            counts = self._iterations[task] = [0, 0]
        counts[0] += 1
        if error is not None:
            counts[1] += 1
            key = f"{task}\x00{error}"
            self._iteration_errors[key] = self._iteration_errors.get(key, 0) + 1
            if key not in self._iteration_samples:
                self._iteration_samples[key] = redact_text(sample)[:SAMPLE_CHARS]

    def stats_for(self, name: str) -> NameStats:
        """The accumulator of ``name`` (created on first use; the same object for the whole run)."""
        acc = self._current.get(name)
        if acc is None:
            if len(self._current) >= MAX_NAMES and name != OTHER_NAME:
                if not self._folded and self._on_warning is not None:
                    self._on_warning(f"more than {MAX_NAMES} request names: the rest are "
                                     f"counted under '{OTHER_NAME}'")
                self._folded = True
                return self.stats_for(OTHER_NAME)
            acc = self._current[name] = NameStats(name, self._expected)
            self._counts[name] = [0, 0]
        return acc

    def in_flight(self) -> int:
        """Requests started and not yet finished."""
        flying = 0
        for name, acc in self._current.items():
            started, ended = self._counts[name]
            flying += started + acc.started - ended - acc.completed - acc.failed
        return flying

    def custom_for(self, name: str, kind: str) -> CustomAccumulator:
        """The accumulator of custom metric ``name`` of ``kind`` (created on first use; the same
        object for the whole run). Raises ``ValueError`` for an empty or non-text name, an unknown
        kind, or a name already used with another kind. Past :data:`MAX_NAMES` custom names the
        rest fold into ``"other"`` (``"other <kind>"`` when ``other`` holds another kind)."""
        acc = self._custom.get(name)
        if acc is not None:
            if acc.kind != kind:
                raise ValueError(f"custom metric {name!r} is a {acc.kind}, not a {kind}")
            return acc
        if not isinstance(name, str) or not name:
            raise ValueError(f"a custom metric's name is non-empty text, got {name!r}")
        if kind not in CUSTOM_KINDS:
            raise ValueError(f"custom metric kinds are {', '.join(CUSTOM_KINDS)}, got {kind!r}")
        if len(self._custom) >= MAX_NAMES:
            if not self._custom_folded and self._on_warning is not None:
                self._on_warning(f"more than {MAX_NAMES} custom metric names: the rest are "
                                 f"counted under '{OTHER_NAME}'")
            self._custom_folded = True
            other = self._custom.get(OTHER_NAME)
            folded = OTHER_NAME if other is None or other.kind == kind else f"{OTHER_NAME} {kind}"
            acc = self._custom.get(folded)
            if acc is None:
                acc = self._custom[folded] = CustomAccumulator(folded, kind)
            return acc
        acc = self._custom[name] = CustomAccumulator(name, kind)
        return acc

    @property
    def custom(self) -> dict[str, CustomAccumulator]:
        """The custom metrics' accumulators by name (read it, do not change it: a scenario's
        fast path looks names up here before calling :meth:`custom_for`)."""
        return self._custom

    def swap_custom(self) -> dict[str, CustomMetric]:
        """Close the current interval of the custom metrics: one :class:`CustomMetric` per
        metric updated since the last swap (timings become histograms here, with numpy)."""
        out: dict[str, CustomMetric] = {}
        for name, acc in self._custom.items():
            if acc.count or acc.values:
                out[name] = acc.take()
        return out

    def swap(self, *, settle: bool = False) -> dict[str, IntervalStats]:
        """Close the current interval: per-name stats of what happened since the last swap.

        With ``settle`` (at the very end, after every task has ended) the requests that were
        started and never finished are counted as cancelled, so started = completed + failed +
        cancelled holds per name.
        """
        out: dict[str, IntervalStats] = {}
        for name, acc in self._current.items():
            iv = IntervalStats(name, acc.started, acc.completed, acc.failed, 0, acc.bytes,
                               acc.corrected, status=acc.status, errors=acc.errors,
                               samples=acc.samples, checks=acc.checks)
            latency, service = acc.latency, acc.service
            acc.started = acc.completed = acc.failed = acc.bytes = acc.corrected = 0
            acc.latency, acc.service = array("d"), array("d")  # before numpy views the old ones
            acc.status, acc.errors, acc.samples, acc.checks = {}, {}, {}, {}
            if latency:
                iv.latency.add_seconds(np.frombuffer(latency, dtype=np.float64))
            if service:
                iv.service.add_seconds(np.frombuffer(service, dtype=np.float64))
            counts = self._counts[name]
            counts[0] += iv.started
            counts[1] += iv.completed + iv.failed
            if settle:
                iv.cancelled = counts[0] - counts[1]
                counts[1] += iv.cancelled
            out[name] = iv
        if self._iterations and out:  # carried by the first name (pending while there is none)
            carrier = next(iter(out.values()))
            carrier.iterations, carrier.iteration_errors = self._iterations, self._iteration_errors
            for key, text in self._iteration_samples.items():
                carrier.samples.setdefault(key, text)
            self._iterations, self._iteration_errors, self._iteration_samples = {}, {}, {}
        return out


def merge_intervals(parts: Iterable[IntervalStats], name: str = "all") -> IntervalStats:
    """One :class:`IntervalStats` that is the sum of ``parts`` (e.g. all names of an interval)."""
    whole = IntervalStats(name)
    for part in parts:
        whole.merge(part)
    return whole


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
    hist: Histogram = field(default_factory=Histogram)

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

    Updated in place by the virtual user (:meth:`~loadnb.vuser.VirtualUser.count`, ``gauge``,
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
