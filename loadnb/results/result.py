"""Result: a view of one run's :class:`~loadnb.record.record.RunRecord`, live during the run and
final after it.

``summary`` is a typed dict (:class:`~loadnb.record.summary.Summary`, the object ``loadnb run
--json`` prints); ``df``, ``stats``, ``errors``, ``errors_timeline``, ``stats_timeline`` and
``alerts`` are DataFrames built by :mod:`loadnb.results.frame` when asked for, from the record
as it is at the last snapshot, so the engine side never imports pandas and nothing is copied
when the run ends.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats
from ..record.record import RunRecord
from ..record.summary import Summary, build_summary
from ..rules.alert_engine import AlertEvent
from ..spec.config import LoadSpec

if TYPE_CHECKING:
    import pandas as pd


class Result:
    """The outcome of one run: snapshots, per-name totals, errors, alerts and the summary.

    It reads the run's record: during a run every property shows the run as of its last
    snapshot; after it, the final numbers.

    Example::

        result = loadnb.run("http://127.0.0.1:8000/", users=20, duration="10s")
        result.df[["elapsed_time", "current_rps", "p99_ms"]]
        result.summary["latency_ms"]["p99"]
    """

    def __init__(self, record: RunRecord) -> None:
        self.record = record

    def __repr__(self) -> str:
        r = self.record
        return (f"<Result {r.run_id} {r.state}: {r.spec.target}, {len(r.snapshots)} snapshots, "
                f"{r.overall.completed + r.overall.failed + r.overall.cancelled:,} requests>")

    def _repr_html_(self) -> str:
        """A summary card in a notebook: state, requests, rps, success, p50/p95/p99, alerts,
        thresholds and the per-name table (escaped HTML)."""
        from .frame import summary_html

        return summary_html(self.summary)

    def plot(self, columns: tuple[str, ...] | list[str] = ("current_rps", "p99_ms")) -> Any:
        """A Bokeh figure of the chosen ``df`` columns over ``elapsed_time`` (``show(fig)`` or
        leave it as a cell's value); Bokeh is imported on first use."""
        from .frame import plot_frame

        return plot_frame(self.df, list(columns), title=self.record.spec.target)

    # -- the record's plain data -----------------------------------------------------------
    @property
    def run_id(self) -> str:
        """The run's id (12 hex digits)."""
        return self.record.run_id

    @property
    def spec(self) -> LoadSpec:
        """What was run."""
        return self.record.spec

    @property
    def state(self) -> str:
        """``running``, ``done``, ``stopped`` or ``failed``."""
        return self.record.state

    @property
    def error(self) -> str | None:
        """The run's own failure (``Type: message``), if it failed."""
        return self.record.error

    @property
    def transport(self) -> str:
        """The transport that ran (``fast`` or ``aiohttp``)."""
        return self.record.transport

    @property
    def started_at(self) -> float:
        """Wall-clock start (Unix seconds)."""
        return self.record.started_at

    @property
    def snapshots(self) -> list[Snapshot]:
        """The snapshots so far."""
        return self.record.snapshots

    @property
    def totals(self) -> dict[str, IntervalStats]:
        """Per request name, every interval so far added up."""
        return self.record.totals

    @property
    def overall(self) -> IntervalStats:
        """All names, every interval so far added up."""
        return self.record.overall

    @property
    def warnings(self) -> list[str]:
        """Plain-language warnings (those that are not alert rules)."""
        return self.record.warnings

    @property
    def alert_events(self) -> list[AlertEvent]:
        """The alert events so far (``cleared_at`` None while active)."""
        return self.record.alerts

    @property
    def duration_s(self) -> float:
        """Seconds from the start to the last snapshot."""
        return self.record.duration_s

    @property
    def peak_rps(self) -> float:
        """The highest ``current_rps`` of a full interval so far."""
        return self.record.peak_rps

    @property
    def dropped_arrivals(self) -> int:
        """Open-model arrivals dropped at ``max_in_flight`` so far."""
        return self.record.dropped_arrivals

    # -- pandas views ----------------------------------------------------------------------
    @property
    def df(self) -> pd.DataFrame:
        """One row per snapshot (interval); columns as :data:`loadnb.metrics.snapshot.COLUMNS`,
        then the target's series as ``server.<metric>{labels}`` columns (``scrape=``,
        ``watch_pid=``)."""
        from .frame import snapshots_frame

        return snapshots_frame(self.record.snapshots, self.record.server_timeline)

    @property
    def server(self) -> pd.DataFrame:
        """The target's scraped or watched series, long format: ``elapsed_time, series,
        value`` (counters as per-second rates, gauges as read)."""
        from .frame import server_frame

        return server_frame(self.record.server_timeline)

    @property
    def slowest(self) -> pd.DataFrame:
        """The slowest traced requests of each interval (``trace=True``): ``elapsed_time, name,
        latency_ms, trace_id``."""
        from .frame import slowest_frame

        return slowest_frame(self.record.slowest)

    @property
    def stats(self) -> pd.DataFrame:
        """One row per request name: counts, rates, latency percentiles (ms)."""
        from .frame import stats_frame

        return stats_frame(self.record.totals, self.record.duration_s)

    @property
    def errors(self) -> pd.DataFrame:
        """One row per (request name, error kind): count and a sample message."""
        from .frame import errors_frame

        return errors_frame(self.record.totals, self.record.overall)

    @property
    def errors_timeline(self) -> pd.DataFrame:
        """Failures per interval by kind, long format: ``elapsed_time, kind, count``."""
        from .frame import errors_timeline_frame

        return errors_timeline_frame(self.record.errors_timeline)

    @property
    def stats_timeline(self) -> pd.DataFrame:
        """Per interval and request name (long format): requests, rps and latency percentiles."""
        from .frame import names_timeline_frame

        return names_timeline_frame(self.record.names_timeline)

    @property
    def workers(self) -> pd.DataFrame:
        """Per interval and Dask worker process (a run with ``workers`` or ``cluster``; empty
        otherwise): ``worker, elapsed_time, requests, rps, loop_lag_ms, cpu_percent, lost``:
        the requests that ended on it, its own event-loop lag and CPU (NaN: nothing arrived from
        it in that interval). Kept while the run's result lives (not in the history)."""
        from .frame import workers_frame

        return workers_frame(self.record.workers_timeline)

    @property
    def alerts(self) -> pd.DataFrame:
        """One row per alert fire: ``rule, message, fired_at, cleared_at`` (NaN while active)."""
        from .frame import alerts_frame

        return alerts_frame(self.record.alerts)

    @property
    def custom(self) -> pd.DataFrame:
        """Custom metrics per interval, long format: ``elapsed_time, metric, kind, count, total,
        last, min, max, mean, p50_ms, p90_ms, p95_ms, p99_ms, max_ms`` (one row per interval a
        metric was updated in; NaN where a column does not apply to its kind)."""
        from .frame import custom_frame

        return custom_frame(self.record.custom_timeline)

    @property
    def custom_totals(self) -> pd.DataFrame:
        """Custom metrics over the whole run so far, one row per metric (``custom``'s columns
        but ``elapsed_time``)."""
        from .frame import custom_totals_frame

        return custom_totals_frame(self.record.custom)

    @property
    def messages(self) -> pd.DataFrame:
        """Message streams (WebSocket, SSE) per interval, long format: ``elapsed_time, name,
        kind, opened, failed, closed, sent, received, bytes_sent, bytes_received,
        first_message_p50_ms, p50_ms, p95_ms, p99_ms`` (the last three: request–reply
        latency), one row per interval a stream was active in."""
        from .frame import messages_frame

        return messages_frame(self.record.messages_timeline)

    @property
    def summary(self) -> Summary:
        """The run in one JSON-ready dict (no secrets): the object ``loadnb run --json`` prints
        (:class:`~loadnb.record.summary.Summary`, built by
        :func:`~loadnb.record.summary.build_summary`)."""
        return build_summary(self.record)

    # -- sharing a run (loadnb.results.export, loadnb.results.report) ----------------------
    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as one JSON document (every table, the summary, the totals with their
        histograms); ``loadnb.load(path)`` reads it back. See :mod:`loadnb.results.export`."""
        from .export import to_json

        return to_json(self.record, self.summary, path)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as one Parquet file (the snapshots as the table, the rest as JSON in
        its metadata); ``loadnb.load(path)`` reads it back. See :mod:`loadnb.results.export`."""
        from .export import to_parquet

        return to_parquet(self.record, self.summary, path)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write every table as CSV and the summary as JSON, as ``loadnb run --out x.csv`` does:
        ``x.csv`` holds the snapshots, each other table beside it (``x_stats.csv``, …,
        ``x_summary.json``); a folder (any other path) holds ``snapshots.csv``, ``stats.csv``,
        … and ``summary.json``. See :func:`loadnb.results.export.to_csv`."""
        from .export import to_csv

        return to_csv(self.record, self.summary, path)

    def report(self, path: str | os.PathLike[str]) -> Path:
        """Write a standalone HTML report of the run (opens offline). See
        :mod:`loadnb.results.report`."""
        from .report import write_report

        return write_report([self], path)


__all__ = ["Result"]
