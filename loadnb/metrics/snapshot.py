"""The Snapshot: one row of a run's timeline, made by the monitor every interval.

One schema everywhere: the DataFrame's columns, the chart's columns and (later) the history rows are
the field names below, in this order. It is plain data, so every face (widget, console line, report,
history) is a subscriber that formats it; nothing here knows about those faces.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: The brief's ten fields, in the brief's order.
BRIEF_FIELDS: tuple[str, ...] = (
    "timestamp",
    "elapsed_time",
    "progress_percent",
    "active_users",
    "completed_requests",
    "failed_requests",
    "success_rate",
    "current_rps",
    "peak_rps",
    "estimated_completion",
)

PERCENTILES: tuple[str, ...] = ("p50", "p90", "p95", "p99")


@dataclass(slots=True)
class Snapshot:
    """The state of a run at the end of one monitor interval.

    Counts named like the brief's (``completed_requests``, ``failed_requests``,
    ``cancelled_requests``) and ``bytes_received`` are cumulative; ``interval_*`` counts, rates and
    latency percentiles cover the last interval only. ``success_rate`` is cumulative, in percent,
    and NaN until the first response arrives. Latency columns are NaN for an interval with no
    response. Times are in seconds unless the name says ``_ms``. ``interval_connections``
    counts the connections opened in the interval, ``connect_*_ms`` their TCP connect and
    ``tls_*_ms`` their TLS handshake percentiles (NaN when none opened, or in cleartext).
    ``connected`` counts the message-stream connections (WebSocket, SSE) open at the interval's
    end, ``interval_messages_*`` the messages of every stream in the interval.

    Example::

        run.subscribe(lambda s: print(f"{s.progress_percent:.1f}% {s.current_rps:.0f} req/s"))
    """

    timestamp: float
    elapsed_time: float
    progress_percent: float
    active_users: int
    completed_requests: int
    failed_requests: int
    success_rate: float
    current_rps: float
    peak_rps: float
    estimated_completion: float
    cancelled_requests: int = 0
    interval_requests: int = 0
    interval_completed: int = 0
    interval_failed: int = 0
    p50_ms: float = math.nan
    p90_ms: float = math.nan
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    mean_ms: float = math.nan
    service_p50_ms: float = math.nan
    service_p90_ms: float = math.nan
    service_p95_ms: float = math.nan
    service_p99_ms: float = math.nan
    service_max_ms: float = math.nan
    service_mean_ms: float = math.nan
    bytes_received: int = 0
    target_users: int = 0
    target_rate: float = math.nan
    in_flight: int = 0
    dropped_arrivals: int = 0
    interval_dropped: int = 0
    waiting_for_connection: int = 0
    workers: int = 0
    connected: int = 0
    interval_messages_sent: int = 0
    interval_messages_received: int = 0
    loop_lag_ms: float = math.nan
    cpu_percent: float = math.nan
    interval_connections: int = 0
    connect_p50_ms: float = math.nan
    connect_p95_ms: float = math.nan
    tls_p50_ms: float = math.nan
    tls_p95_ms: float = math.nan
    send_lag_p99_ms: float = math.nan
    phase: str = "running"
    event: str = ""
    interval_errors: dict[str, int] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        """The snapshot as a flat dict of columns (``interval_errors`` kept as a dict)."""
        return asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Snapshot:
        """The snapshot of a stored row (a history ``snapshots`` row, an export's snapshot):
        None is NaN in a float field, a missing field has its default, ``interval_errors`` is
        a dict or its JSON text; other keys are ignored.

        >>> Snapshot.from_row({"timestamp": 1.0, "elapsed_time": 0.5, "progress_percent": 50,
        ...     "active_users": 2, "completed_requests": 9, "failed_requests": 1,
        ...     "success_rate": 90.0, "current_rps": 20.0, "peak_rps": 20.0,
        ...     "estimated_completion": None, "interval_errors": '{"HTTP 500": 1}'}
        ...     ).estimated_completion
        nan
        """
        keys = set(row.keys()) & _FIELDS
        values = {k: row[k] for k in keys}
        for k in _FLOATS & keys:
            values[k] = math.nan if values[k] is None else float(values[k])
        errors = values.get("interval_errors")
        values["interval_errors"] = dict(json.loads(errors) if isinstance(errors, str)
                                         else errors or {})
        return cls(**values)


#: Column names of the snapshot DataFrame, in order (``interval_errors`` is kept out of the frame
#: and lives in the long-format ``errors_timeline`` instead).
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Snapshot) if f.name != "interval_errors")
_FIELDS = frozenset(f.name for f in fields(Snapshot))
_FLOATS = frozenset(f.name for f in fields(Snapshot) if f.type == "float")

__all__ = ["BRIEF_FIELDS", "COLUMNS", "PERCENTILES", "Snapshot"]
