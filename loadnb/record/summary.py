"""The run summary, typed: :class:`Summary` (a ``TypedDict``) and the one function that builds it.

:func:`build_summary` turns a :class:`~loadnb.record.record.RunRecord` into the run in one
JSON-ready dict (no secrets): ``Result.summary``, the object ``loadnb run --json`` prints, the
``summary`` the history stores and every export carries. Its keys are pinned
(``tests/record/test_summary_keys.py``) and every reader is type-checked against the TypedDicts
here and in :mod:`loadnb.record.summary_parts` (the nested entries and the functions
computing them).

:func:`summary_of` types summary data read back (a history row, an export document, a dict made
by hand): older key names mapped to today's (``failures`` → ``failed`` in ``stats`` rows) and
missing keys filled with their empty values, so a reader may index any key.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict, cast, get_args

from .._version import __version__
from ..text.jsonsafe import json_safe
from ..text.redact import redact_url
from .record import RunRecord
from .summary_parts import (
    CheckCount,
    CustomEntry,
    GeneratorHealth,
    IterationCount,
    MessageEntry,
    StatsRow,
    UsersStarted,
    checks_summary,
    custom_summary,
    error_samples,
    errors_summary,
    generator_summary,
    iterations_summary,
    latency_basis,
    messages_summary,
    startup_cpu_s,
    startup_s,
    stats_summary,
    summary_warnings,
    users_started,
    workers_lost,
)

#: ``latency_ms`` and ``service_ms``: percentiles, the exact max and mean, in ms (None: no data).
Quantiles = TypedDict("Quantiles", {
    "p50": float | None, "p90": float | None, "p95": float | None, "p99": float | None,
    "p99.9": float | None, "p99.99": float | None, "max": float | None, "mean": float | None})
QuantileKey = Literal["p50", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean"]
#: The keys of :data:`Quantiles`, in their order.
QUANTILE_KEYS: tuple[QuantileKey, ...] = get_args(QuantileKey)


class ConnectionsEntry(TypedDict):
    """``connections``: the connections opened, their TCP connect and TLS handshake times (ms;
    ``tls_ms`` all None in cleartext; both None where the transport does not measure them)."""

    opened: int
    connect_ms: Quantiles
    tls_ms: Quantiles


class AlertEntry(TypedDict):
    """One alert fire of ``alerts`` (elapsed seconds; ``cleared_at`` None while active)."""

    rule: str
    message: str
    fired_at: float
    cleared_at: float | None


class ThresholdEntry(TypedDict):
    """One threshold of ``thresholds``: its expression, the value observed, whether it held."""

    expr: str
    observed: float | None
    passed: bool


class Versions(TypedDict):
    """``versions``: of loadnb, Python and aiohttp that ran."""

    loadnb: str
    python: str
    aiohttp: str


class Parameters(TypedDict, total=False):
    """``parameters``: the run's spec, secret-free (``LoadSpec.public_params``). Not total: a run
    loaded back has the parameters its version stored."""

    url: str
    model: str
    users: int | None
    rate: float | None
    duration: float | None
    requests: int | None
    ramp_up: float
    think_time: float | list[float]
    pacing: float | None
    timeout: float
    max_in_flight: int
    connections: int | None
    keepalive: bool
    method: str
    headers: dict[str, str]
    body_bytes: int
    expect_status: list[int] | None
    insecure: bool
    follow_redirects: bool
    interval: float
    graceful_stop: float
    expected_interval: float | None
    transport: str
    scenario: list[str] | None
    scenario_weights: list[float] | None
    data_rows: int | None
    data_mode: str
    stages: list[list[float]] | None
    shape: str | None
    seed: int | None
    alerts: list[str] | None
    history: str | None
    thresholds: list[str]
    abort_on_fail: bool
    abort_grace: float
    notify: list[str]
    workers: int | str | None
    cluster: str | None
    http2: bool
    streams: int | None
    cacert: str | None
    cert: str | None
    key: str | None
    connect_to: list[str]


class Summary(TypedDict):
    """The run in one JSON-ready dict: what :func:`build_summary` gives (see the README's
    "The summary" for each key)."""

    run_id: str
    url: str
    target: str
    state: str
    started_at: str
    duration_s: float
    startup_s: float | None
    startup_cpu_s: float | None
    model: str
    transport: str
    protocol: str
    workers: int
    workers_lost: int
    total_requests: int
    completed_requests: int
    failed_requests: int
    cancelled_requests: int
    success_rate: float | None
    avg_rps: float
    peak_rps: float
    dropped_arrivals: int
    users_started: UsersStarted | None
    bytes_received: int
    latency_basis: str
    latency_ms: Quantiles
    service_ms: Quantiles
    connections: ConnectionsEntry
    status_codes: dict[str, int]
    stats: list[StatsRow]
    errors: dict[str, int]
    error_samples: dict[str, str]
    checks: dict[str, CheckCount]
    iterations: dict[str, IterationCount]
    alerts: list[AlertEntry]
    thresholds: list[ThresholdEntry]
    aborted_by: str | None
    custom: dict[str, CustomEntry]
    messages: dict[str, MessageEntry]
    generator: GeneratorHealth
    warnings: list[str]
    error: str | None
    parameters: Parameters
    versions: Versions


def build_summary(record: RunRecord) -> Summary:
    """The summary of ``record`` as it is now (see the module docstring)."""
    o = record.overall
    answered = o.completed + o.failed
    spec, duration = record.spec, record.duration_s
    started = users_started(record)
    return {
        "run_id": record.run_id,
        "url": redact_url(spec.url),
        "target": spec.target,
        "state": record.state,
        "started_at": datetime.fromtimestamp(record.started_at, timezone.utc).isoformat(),
        "duration_s": round(duration, 3),
        "startup_s": startup_s(record),
        "startup_cpu_s": startup_cpu_s(record),
        "model": spec.model,
        "transport": record.transport,
        "protocol": record.connections.protocol,
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
        "latency_ms": cast("Quantiles", o.latency.summary()),
        "service_ms": cast("Quantiles", o.service.summary()),
        "connections": connections_summary(record),
        "status_codes": {str(k): v for k, v in sorted(o.status.items())},
        "stats": stats_summary(record),
        "errors": errors_summary(o),
        "error_samples": error_samples(record),
        "checks": checks_summary(o),
        "iterations": iterations_summary(o),
        "alerts": [{"rule": e.rule, "message": e.message, "fired_at": e.fired_at,
                    "cleared_at": e.cleared_at} for e in record.alerts],
        "thresholds": [cast("ThresholdEntry", dict(t)) for t in record.thresholds],
        "aborted_by": record.aborted_by,
        "custom": custom_summary(record),
        "messages": messages_summary(record),
        "generator": generator_summary(record.snapshots),
        "warnings": summary_warnings(record, started),
        "error": record.error,
        "parameters": cast("Parameters", spec.public_params()),
        "versions": {"loadnb": __version__, "python": platform.python_version(),
                     "aiohttp": _aiohttp_version()},
    }


def connections_summary(record: RunRecord) -> ConnectionsEntry:
    """``connections`` of the run so far."""
    c = record.connections
    return {"opened": c.opened, "connect_ms": cast("Quantiles", c.connect.summary()),
            "tls_ms": cast("Quantiles", c.tls.summary())}


def _aiohttp_version() -> str:
    """The installed aiohttp's version, without importing aiohttp for it (a fast-transport run
    never needs it: about a third of a second of CPU at start-up)."""
    module = sys.modules.get("aiohttp")
    if module is not None:
        return str(module.__version__)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aiohttp")
    except PackageNotFoundError:  # pragma: no cover - aiohttp is a dependency
        return ""


def strict_summary(summary: Summary) -> Summary:
    """``summary`` as strict JSON data (NaN and infinities as None): what the CLI prints and
    writes."""
    return cast("Summary", json_safe(summary))


# -- summaries read back -------------------------------------------------------------------------
def _no_quantiles() -> Quantiles:
    return {"p50": None, "p90": None, "p95": None, "p99": None, "p99.9": None, "p99.99": None,
            "max": None, "mean": None}


def empty_summary() -> Summary:
    """A summary of nothing: every key, each with its empty value (0, "", None, {}, [])."""
    return {
        "run_id": "", "url": "", "target": "", "state": "", "started_at": "", "duration_s": 0.0,
        "startup_s": None, "startup_cpu_s": None, "model": "", "transport": "", "protocol": "",
        "workers": 0,
        "workers_lost": 0,
        "total_requests": 0, "completed_requests": 0, "failed_requests": 0,
        "cancelled_requests": 0, "success_rate": None, "avg_rps": 0.0, "peak_rps": 0.0,
        "dropped_arrivals": 0, "users_started": None, "bytes_received": 0, "latency_basis": "",
        "latency_ms": _no_quantiles(), "service_ms": _no_quantiles(),
        "connections": {"opened": 0, "connect_ms": _no_quantiles(), "tls_ms": _no_quantiles()},
        "status_codes": {},
        "stats": [], "errors": {}, "error_samples": {}, "checks": {}, "iterations": {},
        "alerts": [], "thresholds": [], "aborted_by": None, "custom": {},
        "messages": {},
        "generator": {"max_loop_lag_ms": None, "max_cpu_percent": None,
                      "max_waiting_for_connection": 0, "send_lag_p99_ms": None},
        "warnings": [], "error": None, "parameters": {},
        "versions": {"loadnb": "", "python": "", "aiohttp": ""},
    }


#: Keys of a ``stats`` row by their older names (an export written before commit 091f226 says
#: ``failures``).
_OLD_STATS_KEYS = {"failures": "failed"}


def summary_of(data: Mapping[str, Any]) -> Summary:
    """``data`` (a summary read back: a history row's, an export's, or made by hand) as a
    :class:`Summary`: older key names mapped to today's, a missing key (or a ``latency_ms`` /
    ``service_ms`` percentile, a ``generator`` key) filled with its empty value
    (:func:`empty_summary`); the rest as it is. A new dict; ``data`` is not changed."""
    out: dict[str, Any] = {**empty_summary(), **data}
    for key in ("latency_ms", "service_ms"):
        out[key] = {**_no_quantiles(), **(out[key] if isinstance(out[key], Mapping) else {})}
    if isinstance(out["generator"], Mapping):  # (a key added since: send_lag_p99_ms)
        out["generator"] = {**empty_summary()["generator"], **out["generator"]}
    out["stats"] = [{_OLD_STATS_KEYS.get(k, k): v for k, v in row.items()}
                    for row in out["stats"] or () if isinstance(row, Mapping)]
    return cast("Summary", out)


__all__ = ["QUANTILE_KEYS", "AlertEntry", "ConnectionsEntry", "Parameters", "QuantileKey",
           "Quantiles", "Summary", "ThresholdEntry", "Versions", "build_summary",
           "connections_summary", "empty_summary", "strict_summary", "summary_of"]
