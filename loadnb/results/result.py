"""Result: a view of one run's :class:`~loadnb.record.RunRecord`, live during the run and final
after it.

``summary`` is a plain dict (the object ``loadnb run --json`` prints); ``df``, ``stats``,
``errors``, ``errors_timeline``, ``stats_timeline`` and ``alerts`` are DataFrames built by
:mod:`loadnb.frame` when asked for, from the record as it is at the last snapshot, so the engine
side never imports pandas and nothing is copied when the run ends.
"""

from __future__ import annotations

import math
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from .._version import __version__
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats
from ..record.record import RunRecord
from ..rules.alerts import AlertEvent
from ..spec.config import LoadSpec
from ..text.redact import redact_url

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
        """One row per snapshot (interval); columns as :data:`loadnb.metrics.snapshot.COLUMNS`."""
        from .frame import snapshots_frame

        return snapshots_frame(self.record.snapshots)

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
    def summary(self) -> dict[str, Any]:
        """The run in one JSON-ready dict (no secrets): the object ``loadnb run --json`` prints."""
        return build_summary(self.record)

    # -- sharing a run (loadnb.export, loadnb.report) -------------------------------------
    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as one JSON document (every table, the summary, the totals with their
        histograms); ``loadnb.load(path)`` reads it back. See :mod:`loadnb.export`."""
        from .export import to_json

        return to_json(self.record, self.summary, path)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the run as one Parquet file (the snapshots as the table, the rest as JSON in
        its metadata); ``loadnb.load(path)`` reads it back. See :mod:`loadnb.export`."""
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


class AccountingError(AssertionError):
    """The run's numbers do not add up (a bug in loadnb, never a fault of the target)."""


def check_accounting(result: Result | RunRecord) -> None:
    """Raise :class:`AccountingError` unless every request is counted exactly once.

    Per request name and overall: started = completed + failed + cancelled, none negative (a
    request ended twice would show as a negative cancelled count); the interval counts
    of the snapshots sum to the totals; the last snapshot shows the totals. Run at the end of every
    run when ``LOADNB_DEBUG=1`` (the test suite sets it).
    """
    record = result.record if isinstance(result, Result) else result
    problems = []
    o = record.overall
    for name, t in record.totals.items():
        if t.cancelled < 0:  # settled as started - ended: negative means one counted twice
            problems.append(f"{name!r}: {-t.cancelled} more requests ended than started")
        if t.started != t.completed + t.failed + t.cancelled:
            problems.append(f"{name!r}: started {t.started} != completed {t.completed} + failed "
                            f"{t.failed} + cancelled {t.cancelled}")
    started = sum(t.started for t in record.totals.values())
    if started != o.completed + o.failed + o.cancelled:
        problems.append(f"overall: started {started} != {o.completed}+{o.failed}+{o.cancelled}")
    snaps = record.snapshots
    sums = (sum(s.interval_completed for s in snaps), sum(s.interval_failed for s in snaps),
            sum(s.interval_requests for s in snaps))
    if sums != (o.completed, o.failed, o.completed + o.failed + o.cancelled):
        problems.append(f"interval sums {sums} != totals {(o.completed, o.failed)}")
    if snaps and (snaps[-1].completed_requests, snaps[-1].failed_requests,
                  snaps[-1].cancelled_requests) != (o.completed, o.failed, o.cancelled):
        problems.append("the last snapshot does not show the totals")
    if problems:
        raise AccountingError("; ".join(problems))


def generator_summary(snapshots: list[Snapshot]) -> dict[str, float | int | None]:
    """The generator's own health over the run: worst loop lag and CPU, arrivals dropped."""
    def worst(values: list[float]) -> float | None:
        finite = [v for v in values if not math.isnan(v)]
        return round(max(finite), 3) if finite else None

    return {
        "max_loop_lag_ms": worst([s.loop_lag_ms for s in snapshots]),
        "max_cpu_percent": worst([s.cpu_percent for s in snapshots if s.phase != "done"]),
        "max_waiting_for_connection": max((s.waiting_for_connection for s in snapshots),
                                          default=0),
    }


def latency_basis(record: RunRecord) -> str:
    """What ``latency_ms`` measures in this run; "corrected" only when a correction was made."""
    spec = record.spec
    if spec.rate is not None:
        return "response time from the intended start"
    if spec.expected_interval is not None and record.corrected:
        return (f"time from the send, corrected for coordinated omission (expected interval "
                f"{spec.expected_interval * 1e3:g} ms; {record.corrected:,} synthetic samples)")
    return "time from the send"


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value * 1e3, 3)


def _plain(value: float) -> float | None:
    return value if math.isfinite(value) else None


def custom_summary(record: RunRecord) -> dict[str, dict[str, Any]]:
    """``summary["custom"]``: per custom metric its ``kind`` and ``count`` (updates), and a
    counter's ``total`` and ``rate`` (per second of the run), a gauge's ``last``, ``min`` and
    ``max``, a timing's ``p50``, ``p90``, ``p95``, ``p99``, ``max`` and ``mean`` in ms."""
    duration = record.duration_s
    out: dict[str, dict[str, Any]] = {}
    for name, m in record.custom.items():
        entry: dict[str, Any] = {"kind": m.kind, "count": m.count}
        if m.kind == "counter":
            entry["total"] = m.total
            entry["rate"] = round(m.total / duration, 3) if duration > 0 else None
        elif m.kind == "gauge":
            entry.update(last=_plain(m.last), min=_plain(m.min), max=_plain(m.max))
        else:
            p50, p90, p95, p99 = m.hist.percentiles((50, 90, 95, 99))
            entry.update(p50=_ms(p50), p90=_ms(p90), p95=_ms(p95), p99=_ms(p99),
                         max=_ms(m.hist.max), mean=_ms(m.hist.mean))
        out[name] = entry
    return out


def stats_summary(record: RunRecord) -> list[dict[str, Any]]:
    """``summary["stats"]``: one dict per request name, Locust-like (``name, requests, failed,
    rps, p50_ms, p95_ms, p99_ms, max_ms``), the numbers and column names
    :func:`loadnb.frame.stats_frame` gives (computed here from the totals: no pandas), names in
    the order the run first saw them. ``rps`` is answered requests / ``duration_s``."""
    duration = record.duration_s
    rows = []
    for name, t in record.totals.items():
        lat = t.latency.summary()
        rows.append({
            "name": name, "requests": t.completed + t.failed + t.cancelled, "failed": t.failed,
            "rps": round((t.completed + t.failed) / duration, 3) if duration > 0 else None,
            "p50_ms": lat["p50"], "p95_ms": lat["p95"], "p99_ms": lat["p99"],
            "max_ms": lat["max"]})
    return rows


def workers_lost(snapshots: list[Snapshot]) -> int:
    """Worker processes lost during the run: the most that were live, less those at the end."""
    if not snapshots:
        return 0
    return max(s.workers for s in snapshots) - snapshots[-1].workers


def users_started(record: RunRecord) -> dict[str, int] | None:
    """``summary["users_started"]``: closed model, the most users that ran at once
    (``max_active``) and the most the load asked for (``asked``); None in the open model."""
    spec = record.spec
    if spec.rate is not None:
        return None
    asked = max((s.target_users for s in record.snapshots),
                default=int(getattr(spec, "users", 0) or 0))  # a stored spec has no users
    return {"max_active": max((s.active_users for s in record.snapshots), default=0),
            "asked": asked}


def _summary_warnings(record: RunRecord, started: dict[str, int] | None) -> list[str]:
    """The record's warnings, and one when fewer users than asked ever ran."""
    out = list(record.warnings)
    judged = any(s.phase == "running" for s in record.snapshots)  # not a run of one tick
    if (started is not None and judged and record.state != "running"
            and started["max_active"] < started["asked"]):
        out.append(f"only {started['max_active']:,} of the {started['asked']:,} users asked "
                   "for ever ran at once (the run ended, or users could not all be started)")
    return out


def checks_summary(overall: IntervalStats) -> dict[str, dict[str, int]]:
    """``summary["checks"]``: per named check, ``{"passes", "fails"}``."""
    return {name: {"passes": p, "fails": f} for name, (p, f) in sorted(overall.checks.items())}


def iterations_summary(overall: IntervalStats) -> dict[str, dict[str, int]]:
    """``summary["iterations"]``: per scenario task, ``{"iterations", "failed"}`` (never
    requests)."""
    return {task: {"iterations": n, "failed": f} for task, (n, f) in overall.iterations.items()}


def error_samples(record: RunRecord) -> dict[str, str]:
    """``summary["error_samples"]``: per error kind, one sample (redacted and capped when it was
    kept): the first name's that has one, most frequent kinds first."""
    out: dict[str, str] = {}
    for kind in _errors_summary(record.overall):
        for t in record.totals.values():
            if kind in t.errors and t.samples.get(kind):
                out[kind] = t.samples[kind]
                break
        else:
            for key, text in record.overall.samples.items():
                if key.partition("\x00")[2] == kind and text:
                    out[kind] = text
                    break
    return out


def _errors_summary(overall: IntervalStats) -> dict[str, int]:
    """Request failures by kind, and the kinds that failed scenario iterations."""
    errors = dict(overall.errors)
    for key, n in overall.iteration_errors.items():
        kind = key.partition("\x00")[2]
        errors[kind] = errors.get(kind, 0) + n
    return dict(sorted(errors.items(), key=lambda kv: -kv[1]))


def build_summary(record: RunRecord) -> dict[str, Any]:
    """The summary dict of ``record`` (see :attr:`Result.summary`)."""
    o = record.overall
    answered = o.completed + o.failed
    spec, duration = record.spec, record.duration_s
    started = users_started(record)
    first = record.snapshots[0] if record.snapshots else None  # its wall time less its elapsed:
    startup = None if first is None else max(  # when the load (the run's clock) started
        0.0, first.timestamp - first.elapsed_time - record.started_at)
    return {
        "run_id": record.run_id,
        "url": redact_url(spec.url),
        "target": spec.target,
        "state": record.state,
        "started_at": datetime.fromtimestamp(record.started_at, timezone.utc).isoformat(),
        "duration_s": round(duration, 3),
        "startup_s": None if startup is None else round(startup, 3),
        "model": spec.model,
        "transport": record.transport,
        "workers": max((s.workers for s in record.snapshots), default=0),
        "workers_lost": workers_lost(record.snapshots),
        "total_requests": o.completed + o.failed + o.cancelled,
        "completed_requests": o.completed,
        "failed_requests": o.failed,
        "cancelled_requests": o.cancelled,
        "success_rate": round(100.0 * o.completed / answered, 3) if answered else None,
        "avg_rps": round(answered / duration, 3) if duration > 0 else 0.0,
        "peak_rps": round(record.peak_rps, 3),
        "dropped_arrivals": record.dropped_arrivals,
        "users_started": started,
        "bytes_received": o.bytes,
        "latency_basis": latency_basis(record),
        "latency_ms": o.latency.summary(),
        "service_ms": o.service.summary(),
        "status_codes": {str(k): v for k, v in sorted(o.status.items())},
        "stats": stats_summary(record),
        "errors": _errors_summary(o),
        "error_samples": error_samples(record),
        "checks": checks_summary(o),
        "iterations": iterations_summary(o),
        "alerts": [e.as_dict() for e in record.alerts],
        "thresholds": [dict(t) for t in record.thresholds],
        "aborted_by": record.aborted_by,
        "custom": custom_summary(record),
        "generator": generator_summary(record.snapshots),
        "warnings": _summary_warnings(record, started),
        "error": record.error,
        "parameters": spec.public_params(),
        "versions": {"loadnb": __version__, "python": platform.python_version(),
                     "aiohttp": aiohttp.__version__},
    }
