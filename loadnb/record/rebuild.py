"""The one rebuild of a :class:`~loadnb.record.record.RunRecord` from what was stored of a run:
the history (every interval's per-name stats) and the exports (the run's totals) alike.

The stored snapshots are added one by one through :meth:`RunRecord.add`, as the live run added
them, each with the stats stored for its interval: per name (the history keeps every interval;
an export keeps the run's totals, given with the last interval so totals and percentiles are
exact), all names merged (or the stored ``overall``), and the custom metrics. What ``add`` cannot
remake (an export keeps no per-interval histograms) comes as stored: the timelines.

Example::

    stored = Stored(run_id, spec, snapshots=snaps, intervals={i: StoredInterval(names)})
    record = rebuild(stored)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..metrics.connections import ConnectStats
from ..metrics.custom import CustomMetric
from ..metrics.messages import MessageStats
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats, merge_intervals
from ..rules.alert_engine import AlertEvent
from .names import NamesTimeline
from .record import RunRecord
from .state import RunState

if TYPE_CHECKING:
    from ..spec.config import LoadSpec

#: The shortest interval length given to :meth:`RunRecord.add` (two snapshots at one time).
MIN_DT = 1e-9


@dataclass(slots=True)
class StoredInterval:
    """The stats stored for one interval: per name, all names (None: the names merged), the
    custom metrics updated in it, the connections opened in it and its message streams."""

    names: dict[str, IntervalStats] = field(default_factory=dict)
    overall: IntervalStats | None = None
    custom: dict[str, CustomMetric] | None = None
    connections: ConnectStats | None = None
    messages: dict[str, MessageStats] | None = None


@dataclass(slots=True)
class Stored:
    """What was stored of one run. ``intervals`` are by the snapshot's position (an interval
    with nothing stored is empty); a timeline that is not None replaces the one the rebuild
    makes."""

    run_id: str
    spec: LoadSpec
    started_at: float
    transport: str = ""
    state: str = "done"
    error: str | None = None
    snapshots: list[Snapshot] = field(default_factory=list)
    intervals: Mapping[int, StoredInterval] = field(default_factory=dict)
    alerts: list[AlertEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    aborted_by: str | None = None
    #: the CPU seconds from the run's start to its load's start (None: not stored)
    startup_cpu: float | None = None
    names_timeline: list[tuple[Any, ...]] | None = None
    errors_timeline: list[tuple[float, str, int]] | None = None
    custom_timeline: list[tuple[Any, ...]] | None = None
    messages_timeline: list[tuple[Any, ...]] | None = None
    server: list[tuple[float, str, float]] = field(default_factory=list)
    slowest: list[tuple[float, str, float, str]] = field(default_factory=list)


def rebuild(stored: Stored) -> RunRecord:
    """The run record of ``stored``, its totals added up interval by interval as the live run's
    were (see the module docstring)."""
    record = RunRecord(stored.run_id, stored.spec, started_at=stored.started_at,
                       transport=stored.transport, state=RunState(stored.state),
                       error=stored.error, cpu_at_load=stored.startup_cpu)
    empty = StoredInterval()
    before = 0.0
    for position, snap in enumerate(stored.snapshots):
        part = stored.intervals.get(position, empty)
        overall = part.overall if part.overall is not None else merge_intervals(
            part.names.values())
        record.add(snap, overall, part.names, max(snap.elapsed_time - before, MIN_DT),
                   custom=part.custom, messages=part.messages)
        if part.connections is not None:
            record.add_connections(part.connections)
        before = snap.elapsed_time
    if stored.names_timeline is not None:
        record.names_timeline = NamesTimeline(stored.names_timeline)
    if stored.errors_timeline is not None:
        record.errors_timeline = stored.errors_timeline
    if stored.custom_timeline is not None:
        record.custom_timeline = stored.custom_timeline
    if stored.messages_timeline is not None:
        record.messages_timeline = stored.messages_timeline
    record.alerts, record.warnings = list(stored.alerts), list(stored.warnings)
    record.events, record.thresholds = list(stored.events), list(stored.thresholds)
    record.aborted_by = stored.aborted_by
    groups: dict[float, dict[str, float]] = {}  # by snapshot, as the monitor wrote them
    for elapsed, series, value in stored.server:
        groups.setdefault(elapsed, {})[series] = value
    for elapsed, values in groups.items():
        record.add_server(elapsed, values)
    record.slowest = list(stored.slowest)
    return record


__all__ = ["MIN_DT", "Stored", "StoredInterval", "rebuild"]
