"""Counters and latency histograms: an O(1) record on the hot path, vectorised work once per tick.

A completed request costs a few list appends and integer increments (:class:`NameStats`); at each
tick :meth:`Recorder.swap` turns the interval's raw latencies into log-bucket histograms with numpy
(:class:`Histogram`, relative error at most :data:`RELATIVE_ERROR`; :meth:`NameStats.bin` does it
early, in pieces) and returns the interval as plain data. Histograms merge by adding and encode
to a few KB, so intervals from several processes merge exactly. The histogram lives in
:mod:`loadnb.metrics.histogram` and custom metrics in :mod:`loadnb.metrics.custom`.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..text.redact import redact_text
from .custom import CUSTOM_KINDS, CustomAccumulator, CustomMetric
from .histogram import Histogram
from .messages import MessageBook

OTHER_NAME = "other"
#: Distinct request names kept per run; more fold into ``other`` (unbounded dynamic URLs).
MAX_NAMES = 1000
SAMPLE_CHARS = 2000
MAX_CORRECTIONS = 10_000


def _corrected_extras(value: float, expected: float) -> list[float]:
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

    The callback-driven hot paths (:class:`~loadnb.engine.work.UserChain`,
    :class:`~loadnb.engine.work.OpenArrivals`) write the common case themselves, with less work than
    :meth:`response`, and leave the rest to the tick (:meth:`Recorder.swap`): a success of status
    ``ok_code`` (the first successful status :meth:`response` saw) within ``expected`` is
    ``ok_n += 1`` and ``bytes += nbytes``, its time appended to ``both`` when the response time
    is the service time (a closed-model user), else to ``latency`` and ``service``.
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
    ok_code: int = -1
    ok_n: int = 0
    both: array[float] = field(default_factory=lambda: array("d"))
    #: this interval's times bucketed already (:meth:`bin`): latency, service
    binned: tuple[Histogram, Histogram] | None = None

    def response(self, ok: bool, status: int, latency: float, service: float, nbytes: int,
                 kind: str | None = None) -> None:
        """Record a request that got a response (ok or not), with its times in seconds:
        ``latency`` from its (intended) start, ``service`` from the actual send.

        A failed one counts under ``kind`` (default ``HTTP <status>``; a failed check names
        itself).
        """
        if ok:
            self.completed += 1
            if self.ok_code < 0:
                self.ok_code = status
        else:
            self.failed += 1
            kind = kind or f"HTTP {status}"
            self.errors[kind] = self.errors.get(kind, 0) + 1
        self.status[status] = self.status.get(status, 0) + 1
        self.latency.append(latency)
        self.service.append(service)
        self.bytes += nbytes
        if latency > self.expected:
            extras = _corrected_extras(latency, self.expected)
            self.latency.extend(extras)
            self.corrected += len(extras)

    def bin(self) -> None:
        """Bucket the times so far into this interval's histograms early (the open model's
        pacer, as the arrays fill: no tick buckets a whole interval at once), to the same result."""
        if self.binned is None:
            self.binned = (Histogram(), Histogram())
        latency, service, both = self.latency, self.service, self.both
        self.latency, self.service, self.both = array("d"), array("d"), array("d")
        _add_times(self.binned, latency, service, both)

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


def _add_times(into: tuple[Histogram, Histogram], latency: array[float], service: array[float],
               both: array[float]) -> None:
    """Bucket raw times (seconds) into ``into`` (latency, service); ``both`` into the two."""
    for hist, times in ((into[0], latency), (into[1], service)):
        if times:
            hist.add_seconds(np.frombuffer(times, dtype=np.float64))
    if both:  # one pass for the two histograms
        shared = Histogram()
        shared.add_seconds(np.frombuffer(both, dtype=np.float64))
        into[0].merge(shared)
        into[1].merge(shared)


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
        #: the message streams' accumulators (WebSocket, SSE) and open connections
        self.messages = MessageBook()

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
            flying += started + acc.started - ended - acc.completed - acc.ok_n - acc.failed
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
            if acc.ok_n:
                iv.completed += acc.ok_n
                iv.status[acc.ok_code] = iv.status.get(acc.ok_code, 0) + acc.ok_n
            latency, service, both, binned = acc.latency, acc.service, acc.both, acc.binned
            acc.started = acc.completed = acc.failed = acc.bytes = acc.corrected = acc.ok_n = 0
            # new arrays before numpy views the old ones
            acc.latency, acc.service, acc.both = array("d"), array("d"), array("d")
            acc.status, acc.errors, acc.samples, acc.checks, acc.binned = {}, {}, {}, {}, None
            if binned is not None:  # the times bucketed early are the interval's histograms
                iv.latency, iv.service = binned
            _add_times((iv.latency, iv.service), latency, service, both)
            counts = self._counts[name]
            counts[0] += iv.started
            counts[1] += iv.completed + iv.failed
            if settle:
                iv.cancelled = counts[0] - counts[1]
                counts[1] += iv.cancelled
            out[name] = iv
        if self._iterations:  # carried by the first name (with none yet, the first task's)
            carrier = next(iter(out.values()), None)
            if carrier is None:
                task = next(iter(self._iterations))
                carrier = out[task] = IntervalStats(task)
            carrier.iterations, carrier.iteration_errors = self._iterations, self._iteration_errors
            for key, text in self._iteration_samples.items():
                carrier.samples.setdefault(key, text)
            self._iterations, self._iteration_errors, self._iteration_samples = {}, {}, {}
        return out


def merge_by_name(into: dict[str, IntervalStats], parts: Mapping[str, IntervalStats]) -> None:
    """Add each name's stats of ``parts`` into ``into`` (a name seen first gets a fresh entry)."""
    for name, part in parts.items():
        whole = into.get(name)
        if whole is None:
            into[name] = whole = IntervalStats(name)
        whole.merge(part)


def merge_intervals(parts: Iterable[IntervalStats], name: str = "all") -> IntervalStats:
    """One :class:`IntervalStats` that is the sum of ``parts`` (e.g. all names of an interval)."""
    whole = IntervalStats(name)
    for part in parts:
        whole.merge(part)
    return whole


__all__ = ["MAX_NAMES", "IntervalStats", "NameStats", "Recorder", "merge_by_name",
           "merge_intervals"]
