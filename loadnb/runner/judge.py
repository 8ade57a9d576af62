"""Judging a run: its thresholds on every snapshot, and when to abort it.

:class:`ThresholdJudge` judges, after the record has a snapshot, every threshold on the run so
far (:class:`RunView`) and returns the results; the monitor writes them into the record. With
``abort`` (the ``abort_on_fail`` option) it names the threshold that should stop the run as soon
as one is **lost for good** (a max
already above its bound, an error budget of a request-bounded run already spent, a count of
requests, failures, iterations or failed iterations already past its bound) or has **failed on
``window`` snapshots in a row after the grace period**, like k6's ``abortOnFail`` with
``delayAbortEval``. :class:`IntervalView` is what alert rules written as expressions judge: the
last interval alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..metrics.custom import CustomMetric
from ..metrics.messages import MessageStats
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats, merge_intervals
from ..record.record import RunRecord
from ..rules.thresholds import Threshold
from ..rules.thresholds_messages import MESSAGE_STATS

#: Snapshots in a row a threshold must fail (after the grace period) to abort the run.
ABORT_WINDOW = 3


class RunView:
    """The run so far, as thresholds read it."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record

    @property
    def duration(self) -> float:
        return self.record.duration_s

    def stats(self, name: str | None) -> IntervalStats | None:
        return self.record.overall if name is None else self.record.totals.get(name)

    def tallies(self) -> IntervalStats:
        return self.record.overall

    def custom(self, metric: str) -> CustomMetric | None:
        return self.record.custom.get(metric)

    def messages(self) -> Mapping[str, MessageStats]:
        return self.record.messages

    def workers(self) -> Sequence[tuple[Any, ...]]:
        return ()  # thresholds judge the run as a whole

    def server(self, series: str) -> float | None:
        sums = self.record.server_sums
        means = [acc[0] / acc[1] for key, acc in sums.items()
                 if acc[1] and server_matches(key, series)]
        return sum(means) if means else None


class IntervalView:
    """The record's last interval alone, as alert rules written as expressions read it."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self._overall: tuple[int, IntervalStats] | None = None
        self._tallies: tuple[int, IntervalStats] | None = None

    @property
    def duration(self) -> float:
        snaps = self.record.snapshots
        if not snaps:
            return 0.0
        return snaps[-1].elapsed_time - (snaps[-2].elapsed_time if len(snaps) > 1 else 0.0)

    def stats(self, name: str | None) -> IntervalStats | None:
        last = self.record.last_interval
        if name is not None:
            return last.get(name)
        key = len(self.record.snapshots)
        if self._overall is None or self._overall[0] != key:
            self._overall = (key, merge_intervals(last.values()))
        return self._overall[1]

    def tallies(self) -> IntervalStats:
        key = len(self.record.snapshots)
        if self._tallies is None or self._tallies[0] != key:
            self._tallies = (key, tally(self.record.last_interval.values()))
        return self._tallies[1]

    def custom(self, metric: str) -> CustomMetric | None:
        return self.record.last_custom.get(metric)

    def messages(self) -> Mapping[str, MessageStats]:
        return self.record.last_messages

    def workers(self) -> Sequence[tuple[Any, ...]]:
        return self.record.last_workers

    def server(self, series: str) -> float | None:
        values = [v for key, v in self.record.server_last.items() if server_matches(key, series)]
        return sum(values) if values else None


def server_matches(key: str, series: str) -> bool:
    """Whether the stored series ``key`` is ``series`` (``server.m{labels}``) or one label set
    of it (``series`` is ``server.m``)."""
    return key == series or ("{" not in series and key.startswith(series + "{"))


def tally(parts: Iterable[IntervalStats]) -> IntervalStats:
    """The iterations, their failure kinds and the checks of ``parts`` added up, and nothing
    else (a few dicts: an interval of many names merges its histograms only when asked)."""
    whole = IntervalStats("all")
    for part in parts:
        for counts, into in ((part.checks, whole.checks), (part.iterations, whole.iterations)):
            for key, (first, second) in counts.items():
                mine = into.setdefault(key, [0, 0])
                mine[0] += first
                mine[1] += second
        for key, n in part.iteration_errors.items():
            whole.iteration_errors[key] = whole.iteration_errors.get(key, 0) + n
    return whole


def lost_for_good(t: Threshold, value: float | None, record: RunRecord,
                  planned: int | None) -> bool:
    """Whether ``t`` can no longer pass, whatever the rest of the run does (``planned``: the
    run's request budget, if it has one)."""
    if t.custom is not None:
        return False
    if t.op in ("<", "<="):
        if _only_grows(t) and value is not None:
            return not t.holds(value)
        if t.stat == "errors" and planned and t.name is None:  # at least failed / planned
            return not t.holds(100.0 * record.overall.failed / planned)
        return False
    if t.stat == "success" and planned and t.name is None:  # at most 1 - failed / planned
        return not t.holds(100.0 * (planned - record.overall.failed) / planned)
    return False


def _only_grows(t: Threshold) -> bool:
    """A run's max and its counts never come down."""
    return t.stat in ("max", "requests", "failed", "iterations", *MESSAGE_STATS) or (
        t.stat == "iterations_failed" and not t.percent)


class ThresholdJudge:
    """Judges ``thresholds`` on the run so far; with ``abort``, names the first one lost
    (:attr:`aborted_by`, once) so that the run stops.

    Example::

        judge = ThresholdJudge(parse_thresholds(["p95<300ms"]), record)
        judge(record.snapshots[-1])   # [{"expr": "p95<300ms", "observed": 12.3, "passed": True}]
    """

    def __init__(self, thresholds: Sequence[Threshold], record: RunRecord, *,
                 abort: bool = False, grace: float = 0.0,
                 planned_requests: int | None = None, window: int = ABORT_WINDOW) -> None:
        self.thresholds = list(thresholds)
        self.record = record
        self.view = RunView(record)
        self.abort, self.grace, self.window = abort, grace, window
        self.planned = planned_requests
        self._streaks = [0] * len(self.thresholds)
        #: The threshold that should stop the run (``abort`` only), once one is lost.
        self.aborted_by: str | None = None

    def __call__(self, snap: Snapshot) -> list[dict[str, Any]]:
        """Every threshold's ``{"expr", "observed", "passed"}`` as of ``snap``."""
        results = []
        for i, t in enumerate(self.thresholds):
            value = t.observe(self.view)
            passed = t.holds(value)
            results.append({"expr": t.expr, "observed": t.rounded(value), "passed": passed})
            self._streaks[i] = 0 if passed else self._streaks[i] + 1
            if self.abort and self.aborted_by is None and snap.phase == "running":
                self._maybe_abort(t, i, value, snap)
        return results

    def _maybe_abort(self, t: Threshold, i: int, value: float | None, snap: Snapshot) -> None:
        sustained = snap.elapsed_time >= self.grace and self._streaks[i] >= self.window
        if lost_for_good(t, value, self.record, self.planned) or sustained:
            self.aborted_by = t.expr


__all__ = ["ABORT_WINDOW", "IntervalView", "RunView", "ThresholdJudge", "lost_for_good",
           "server_matches", "tally"]
