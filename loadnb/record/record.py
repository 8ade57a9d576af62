"""The run record: everything one run has produced so far, alive from its first moment.

The monitor adds each interval to it as the interval closes (:meth:`RunRecord.add`): the
snapshot, the per-name totals, the error and per-name timelines, the peak. The alert engine
appends its events, the run its warnings, the engine's live changes land here too. Every face
reads it, during the run and after it: :class:`~loadnb.results.result.Result` is a view of it, so
nothing is copied when the run ends. Scale-out changes only what feeds the monitor; history is one
more reader (a sink) of the same record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..metrics.connections import ConnectStats
from ..metrics.custom import CustomMetric, custom_row
from ..metrics.messages import MessageStats, message_row
from ..metrics.payload import WorkerInterval
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats
from ..rules.alert_engine import AlertEvent
from .names import NamesTimeline
from .state import RunState
from .workers import WorkersTimeline

if TYPE_CHECKING:
    from ..spec.config import LoadSpec

#: Columns of a per-name timeline row (see :attr:`RunRecord.names_timeline`).
NAMES_TIMELINE_COLUMNS: tuple[str, ...] = (
    "elapsed_time", "name", "requests", "completed", "failed", "rps",
    "p50_ms", "p90_ms", "p99_ms", "max_ms")
_NAME_QS = (50, 90, 99, 100)
#: Columns of a per-worker timeline row (see :attr:`RunRecord.workers_timeline`).
WORKERS_TIMELINE_COLUMNS: tuple[str, ...] = (
    "worker", "elapsed_time", "requests", "rps", "loop_lag_ms", "cpu_percent", "lost")


@dataclass
class RunRecord:
    """One run's data, live: read it at any time, it is consistent as of the last snapshot.

    ``totals`` (per request name) and ``overall`` add up every interval so far; ``snapshots``
    are the intervals' rows; ``errors_timeline`` holds ``(elapsed, kind, count)`` and
    ``names_timeline`` one row per (interval, name) with requests (:data:`NAMES_TIMELINE_COLUMNS`;
    a :class:`~loadnb.record.names.NamesTimeline`, 76 bytes a row); ``workers_timeline`` one row
    per (interval, worker process) of a run on Dask (:data:`WORKERS_TIMELINE_COLUMNS`; a
    :class:`~loadnb.record.workers.WorkersTimeline`, 45 bytes a row), and
    ``last_workers`` the last interval's; ``alerts`` are the alert
    events (fired, and cleared or still active); ``events`` the live changes
    ``(elapsed, text)``; ``warnings`` plain-language warnings that are not alert rules;
    ``last_interval`` the per-name stats of the last interval added (what a writer stores) and
    ``last_custom`` its custom metrics;
    ``custom`` the user's custom metrics added up and ``custom_timeline`` one row per
    (interval, metric); ``messages`` the message streams (WebSocket, SSE) added up per name,
    ``last_messages`` the last interval's and ``messages_timeline`` one row per (interval,
    stream); ``thresholds`` the pass/fail judgement of the run's thresholds so far,
    ``{"expr", "observed", "passed"}`` each (updated at every snapshot); ``aborted_by`` the
    threshold that stopped the run (``abort_on_fail``), if one did.
    ``cpu_at_start`` and ``cpu_at_load`` are the process's CPU seconds (``time.process_time``)
    when the run started and when its load did (:attr:`startup_cpu`: the start-up's CPU).
    ``state`` is a :class:`~loadnb.record.state.RunState` (``idle`` before a run starts, then
    ``running``, ``stopping``, and ``done``, ``stopped`` or ``failed``). The run's
    :class:`~loadnb.runner.monitor.Monitor` is its one writer while the run goes on.
    """

    run_id: str
    spec: LoadSpec
    started_at: float = field(default_factory=time.time)
    transport: str = ""
    state: RunState = RunState.RUNNING
    error: str | None = None
    snapshots: list[Snapshot] = field(default_factory=list)
    totals: dict[str, IntervalStats] = field(default_factory=dict)
    overall: IntervalStats = field(default_factory=lambda: IntervalStats("all"))
    errors_timeline: list[tuple[float, str, int]] = field(default_factory=list)
    #: one row per (interval, name), by column in numpy chunks (it reads as a list of tuples)
    names_timeline: NamesTimeline = field(default_factory=NamesTimeline)
    peak_rps: float = 0.0
    warnings: list[str] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    last_interval: dict[str, IntervalStats] = field(default_factory=dict)
    custom: dict[str, CustomMetric] = field(default_factory=dict)
    last_custom: dict[str, CustomMetric] = field(default_factory=dict)
    custom_timeline: list[tuple[Any, ...]] = field(default_factory=list)
    messages: dict[str, MessageStats] = field(default_factory=dict)
    last_messages: dict[str, MessageStats] = field(default_factory=dict)
    messages_timeline: list[tuple[Any, ...]] = field(default_factory=list)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    aborted_by: str | None = None
    #: the process CPU reading the start-up counts from: taken when the run starts (a notebook),
    #: 0.0 for the process's start (``loadnb run``: the interpreter and imports are start-up)
    cpu_at_start: float = 0.0
    #: the process CPU reading when the load started (the monitor's begin); None before
    cpu_at_load: float | None = None
    #: the connections opened so far (connect and TLS times) and the protocol the run speaks
    connections: ConnectStats = field(default_factory=ConnectStats)
    #: the connections opened in the last interval added (what a writer stores)
    last_connections: ConnectStats = field(default_factory=ConnectStats)
    #: the target's scraped or watched series, long format: ``(elapsed_time, series, value)``
    server_timeline: list[tuple[float, str, float]] = field(default_factory=list)
    #: each series' values so far: ``series -> [sum, count]`` (what thresholds read)
    server_sums: dict[str, list[float]] = field(default_factory=dict)
    #: the series of the last snapshot that has them (what alert rules read)
    server_last: dict[str, float] = field(default_factory=dict)
    #: the slowest requests of each interval: ``(elapsed_time, name, latency_s, trace_id)``
    slowest: list[tuple[float, str, float, str]] = field(default_factory=list)

    #: one row per (interval, worker), by column in numpy chunks (it reads as a list of tuples)
    workers_timeline: WorkersTimeline = field(default_factory=WorkersTimeline)
    last_workers: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, snap: Snapshot, interval: IntervalStats, by_name: dict[str, IntervalStats],
            dt: float, *, custom: dict[str, CustomMetric] | None = None,
            messages: dict[str, MessageStats] | None = None,
            workers: Sequence[WorkerInterval] = ()) -> None:
        """Add one closed interval: ``interval`` is all names merged, ``by_name`` per name,
        ``dt`` its length in seconds, ``custom`` the custom metrics updated in it (added to
        :attr:`custom`, one :attr:`custom_timeline` row each), ``messages`` its message streams
        (added to :attr:`messages`, one :attr:`messages_timeline` row each), ``workers``
        each worker process's part (one :attr:`workers_timeline` row each)."""
        self.last_workers = [(w.worker, snap.elapsed_time, w.requests, w.requests / dt,
                              w.loop_lag_ms, w.cpu_percent, w.lost) for w in workers]
        self.workers_timeline.extend(self.last_workers)
        self.overall.merge(interval)
        rows: list[tuple[Any, ...]] = []
        for name, part in by_name.items():
            total = self.totals.get(name)
            if total is None:
                self.totals[name] = total = IntervalStats(name)
            total.merge(part)
            if part.finished:
                p50, p90, p99, top = part.latency.percentiles(_NAME_QS)
                rows.append((
                    snap.elapsed_time, name, part.finished, part.completed, part.failed,
                    part.finished / dt, p50 * 1e3, p90 * 1e3, p99 * 1e3, top * 1e3))
        self.names_timeline.extend(rows)
        for kind, count in interval.errors.items():
            self.errors_timeline.append((snap.elapsed_time, kind, count))
        for name, metric in (custom or {}).items():
            run_total = self.custom.get(name)
            if run_total is None:
                self.custom[name] = run_total = CustomMetric(name, metric.kind)
            elif run_total.kind != metric.kind:
                self.warn(f"custom metric {name!r} is a {run_total.kind}; its {metric.kind} "
                          f"values are not added up")
                continue
            run_total.merge(metric, later=True)
            self.custom_timeline.append(custom_row(snap.elapsed_time, metric))
        self._add_messages(snap.elapsed_time, messages or {})
        self.peak_rps = snap.peak_rps
        self.last_interval, self.last_custom = by_name, dict(custom or {})
        self.last_messages = dict(messages or {})
        self.snapshots.append(snap)

    def _add_messages(self, elapsed: float, messages: dict[str, MessageStats]) -> None:
        for name, part in messages.items():
            total = self.messages.get(name)
            if total is None:
                self.messages[name] = total = MessageStats(name, part.kind)
            total.merge(part)
            self.messages_timeline.append(message_row(elapsed, part))

    def add_connections(self, connections: ConnectStats) -> None:
        """Add the connections opened in one interval (and the protocol they speak)."""
        self.connections.merge(connections)
        self.last_connections = connections

    def add_server(self, elapsed: float,
                   values: dict[str, float]) -> list[tuple[float, str, float]]:
        """Add the target's series of the snapshot at ``elapsed`` (NaN values are gaps: no row);
        returns the rows added."""
        rows = [(elapsed, k, float(v)) for k, v in values.items() if not math.isnan(v)]
        self.server_timeline.extend(rows)
        for _, series, value in rows:
            acc = self.server_sums.setdefault(series, [0.0, 0.0])
            acc[0] += value
            acc[1] += 1
        if rows:
            self.server_last = {series: value for _, series, value in rows}
        return rows

    def warn(self, text: str) -> None:
        """Add a warning, once."""
        if text not in self.warnings:
            self.warnings.append(text)

    @property
    def duration_s(self) -> float:
        """Seconds from the start to the last snapshot (every answer so far came within it)."""
        return self.snapshots[-1].elapsed_time if self.snapshots else 0.0

    @property
    def startup_cpu(self) -> float | None:
        """CPU seconds from the run's start to its load's start (None: the load never began)."""
        return None if self.cpu_at_load is None else self.cpu_at_load - self.cpu_at_start

    @property
    def dropped_arrivals(self) -> int:
        """Open-model arrivals dropped at ``max_in_flight`` so far."""
        return self.snapshots[-1].dropped_arrivals if self.snapshots else 0

    @property
    def corrected(self) -> int:
        """Synthetic samples added by coordinated-omission correction so far."""
        return self.overall.corrected


__all__ = ["NAMES_TIMELINE_COLUMNS", "WORKERS_TIMELINE_COLUMNS", "RunRecord"]
