"""What the monitor hands every sink after each snapshot: :class:`Update`.

The snapshot, and what came with its interval — the per-name stats and custom metrics, the
custom-metric timeline rows, the alert fires and clears — with the run's judgement so far (alert
events, thresholds, warnings, live-change events). A sink (the widget, the console, the history
writer) reads all it needs here and never reads it back from the record, nor writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..metrics.custom import CustomMetric
from ..metrics.messages import MessageStats
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats
from ..rules.alert_engine import AlertEvent
from .state import RunState


@dataclass(frozen=True, slots=True)
class Update:
    """One interval's message to the sinks (see the module docstring).

    ``fired``/``cleared`` are the alert events that changed in this interval (the record's own
    objects: a fired one's ``cleared_at`` may be set by a later interval); ``alerts``,
    ``thresholds``, ``warnings``, ``events`` and ``iterations`` (per scenario task: iterations,
    failed) are the run's so far; ``totals`` too (what loadnb's metrics exporters read);
    ``messages`` the message streams' counts of the interval; ``server_rows`` the target's scraped
    or watched values written at this tick (scrapes land on the snapshot before, see
    :mod:`loadnb.runner.observing`), ``slowest`` the interval's slowest traced requests;
    ``workers`` each worker process's row of the interval (a run on Dask;
    :data:`~loadnb.record.record.WORKERS_TIMELINE_COLUMNS`).
    """

    snapshot: Snapshot
    state: RunState
    by_name: Mapping[str, IntervalStats]
    custom: Mapping[str, CustomMetric]
    custom_rows: tuple[tuple[Any, ...], ...]
    fired: tuple[AlertEvent, ...]
    cleared: tuple[AlertEvent, ...]
    alerts: tuple[AlertEvent, ...]
    thresholds: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...]
    events: tuple[tuple[float, str], ...]
    iterations: Mapping[str, list[int]]
    aborted_by: str | None = None
    messages: Mapping[str, MessageStats] = field(default_factory=dict)
    workers: tuple[tuple[Any, ...], ...] = ()
    #: the run's cumulative per-name totals (the record's: read them, never change them)
    totals: Mapping[str, IntervalStats] = field(default_factory=dict)
    #: the target's series written at this tick: ``(elapsed_time, series, value)``
    server_rows: tuple[tuple[float, str, float], ...] = ()
    #: this interval's slowest requests: ``(elapsed_time, name, latency_s, trace_id)``
    slowest: tuple[tuple[float, str, float, str], ...] = ()


__all__ = ["Update"]
