"""Result: what one run produced, as plain data, with pandas views made on demand.

``summary`` is a plain dict (the object ``loadnb run --json`` prints); ``df``, ``stats``,
``errors`` and ``errors_timeline`` are DataFrames built by :mod:`loadnb.frame` when first asked for,
so the engine side never imports pandas.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import aiohttp

from ._version import __version__
from .config import LoadSpec, redact_url
from .metrics import Histogram, IntervalStats
from .snapshot import Snapshot

if TYPE_CHECKING:
    import pandas as pd

#: Percentiles given in the summary's ``latency_ms`` and ``service_ms``.
SUMMARY_PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p99.9", 99.9), ("p99.99", 99.99))


def latency_summary(hist: Histogram) -> dict[str, float | None]:
    """``{p50, p90, p95, p99, p99.9, p99.99, max, mean}`` in ms (None when there is no data)."""
    values = hist.percentiles(q for _, q in SUMMARY_PERCENTILES)
    out = {key: v * 1e3 for (key, _), v in zip(SUMMARY_PERCENTILES, values, strict=True)}
    out["max"], out["mean"] = hist.max * 1e3, hist.mean * 1e3
    return {k: (None if math.isnan(v) else round(v, 3)) for k, v in out.items()}


@dataclass
class Result:
    """The outcome of one run: snapshots, per-name totals, errors, and the summary.

    Example::

        result = loadnb.run("http://127.0.0.1:8000/", users=20, duration="10s")
        result.df[["elapsed_time", "current_rps", "p99_ms"]].plot(x="elapsed_time")
        result.summary["latency_ms"]["p99"]
    """

    run_id: str
    spec: LoadSpec
    transport: str
    started_at: float
    snapshots: list[Snapshot] = field(default_factory=list)
    totals: dict[str, IntervalStats] = field(default_factory=dict)
    overall: IntervalStats = field(default_factory=lambda: IntervalStats("all"))
    timeline: list[tuple[float, str, int]] = field(default_factory=list)
    names_timeline: list[tuple[Any, ...]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    state: str = "running"
    duration_s: float = 0.0
    peak_rps: float = 0.0
    dropped_arrivals: int = 0
    error: str | None = None

    @property
    def df(self) -> pd.DataFrame:
        """One row per snapshot (interval); columns as :data:`loadnb.snapshot.COLUMNS`."""
        from .frame import snapshots_frame

        return snapshots_frame(self.snapshots)

    @property
    def stats(self) -> pd.DataFrame:
        """One row per request name: counts, rates, latency percentiles (ms)."""
        from .frame import stats_frame

        return stats_frame(self.totals, self.duration_s)

    @property
    def errors(self) -> pd.DataFrame:
        """One row per (request name, error kind): count and a sample message."""
        from .frame import errors_frame

        return errors_frame(self.totals)

    @property
    def errors_timeline(self) -> pd.DataFrame:
        """Failures per interval by kind, long format: ``elapsed_time, kind, count``."""
        from .frame import errors_timeline_frame

        return errors_timeline_frame(self.timeline)

    @property
    def stats_timeline(self) -> pd.DataFrame:
        """Per interval and request name (long format): requests, rps and latency percentiles."""
        from .frame import names_timeline_frame

        return names_timeline_frame(self.names_timeline)

    @property
    def summary(self) -> dict[str, Any]:
        """The run in one JSON-ready dict (no secrets): the object ``loadnb run --json`` prints."""
        return build_summary(self)


class AccountingError(AssertionError):
    """The run's numbers do not add up (a bug in loadnb, never a fault of the target)."""


def check_accounting(result: Result) -> None:
    """Raise :class:`AccountingError` unless every request is counted exactly once.

    Per request name and overall: started = completed + failed + cancelled, none negative (a
    request ended twice would show as a negative cancelled count); the interval counts
    of the snapshots sum to the totals; the last snapshot shows the totals. Run at the end of every
    run when ``LOADNB_DEBUG=1`` (the test suite sets it).
    """
    problems = []
    o = result.overall
    for name, t in result.totals.items():
        if t.cancelled < 0:  # settled as started - ended: negative means one counted twice
            problems.append(f"{name!r}: {-t.cancelled} more requests ended than started")
        if t.started != t.completed + t.failed + t.cancelled:
            problems.append(f"{name!r}: started {t.started} != completed {t.completed} + failed "
                            f"{t.failed} + cancelled {t.cancelled}")
    started = sum(t.started for t in result.totals.values())
    if started != o.completed + o.failed + o.cancelled:
        problems.append(f"overall: started {started} != {o.completed}+{o.failed}+{o.cancelled}")
    snaps = result.snapshots
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


def build_summary(result: Result) -> dict[str, Any]:
    """The summary dict of ``result`` (see :attr:`Result.summary`)."""
    o = result.overall
    answered = o.completed + o.failed
    spec = result.spec
    return {
        "run_id": result.run_id,
        "url": redact_url(spec.url),
        "state": result.state,
        "started_at": datetime.fromtimestamp(result.started_at, timezone.utc).isoformat(),
        "duration_s": round(result.duration_s, 3),
        "model": spec.model,
        "transport": result.transport,
        "total_requests": o.completed + o.failed + o.cancelled,
        "completed_requests": o.completed,
        "failed_requests": o.failed,
        "cancelled_requests": o.cancelled,
        "success_rate": round(100.0 * o.completed / answered, 3) if answered else None,
        "avg_rps": round(answered / result.duration_s, 3) if result.duration_s > 0 else 0.0,
        "peak_rps": round(result.peak_rps, 3),
        "dropped_arrivals": result.dropped_arrivals,
        "bytes_received": o.bytes,
        "latency_basis": spec.latency_basis,
        "latency_ms": latency_summary(o.latency),
        "service_ms": latency_summary(o.service),
        "status_codes": {str(k): v for k, v in sorted(o.status.items())},
        "errors": dict(sorted(o.errors.items(), key=lambda kv: -kv[1])),
        "generator": generator_summary(result.snapshots),
        "warnings": list(result.warnings),
        "error": result.error,
        "parameters": spec.public_params(),
        "versions": {"loadnb": __version__, "python": platform.python_version(),
                     "aiohttp": aiohttp.__version__},
    }
