"""A :class:`~loadnb.source.Payload` as plain data (dicts, lists, numbers, text, bytes) that
msgpack carries between processes, and back, exactly.

Histograms travel as :meth:`~loadnb.metrics.Histogram.encode` bytes (a few KB per interval);
mappings with integer keys (status codes) as lists of pairs; everything else as it is.
``decode(encode(p))`` equals ``p`` field for field.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .payload import Payload, SourceStatus
from .stats import CustomMetric, Histogram, IntervalStats

Plain = dict[str, Any]
_STATUS_FIELDS = tuple(f.name for f in fields(SourceStatus) if f.name != "events")


def encode_stats(iv: IntervalStats) -> Plain:
    """One name's interval stats as plain data."""
    return {
        "name": iv.name, "started": iv.started, "completed": iv.completed, "failed": iv.failed,
        "cancelled": iv.cancelled, "bytes": iv.bytes, "corrected": iv.corrected,
        "latency": iv.latency.encode(), "service": iv.service.encode(),
        "status": [[code, n] for code, n in iv.status.items()],
        "errors": [[kind, n] for kind, n in iv.errors.items()],
        "samples": [[kind, text] for kind, text in iv.samples.items()],
        "checks": [[check, *counts] for check, counts in iv.checks.items()],
        "iterations": [[task, *counts] for task, counts in iv.iterations.items()],
        "iteration_errors": [[kind, n] for kind, n in iv.iteration_errors.items()],
    }


def decode_stats(data: Plain) -> IntervalStats:
    """The inverse of :func:`encode_stats`."""
    return IntervalStats(
        str(data["name"]), int(data["started"]), int(data["completed"]), int(data["failed"]),
        int(data["cancelled"]), int(data["bytes"]), int(data["corrected"]),
        latency=Histogram.decode(bytes(data["latency"])),
        service=Histogram.decode(bytes(data["service"])),
        status={int(code): int(n) for code, n in data["status"]},
        errors={str(kind): int(n) for kind, n in data["errors"]},
        samples={str(kind): str(text) for kind, text in data["samples"]},
        checks={str(c[0]): [int(n) for n in c[1:]] for c in data.get("checks", [])},
        iterations={str(t[0]): [int(n) for n in t[1:]] for t in data.get("iterations", [])},
        iteration_errors={str(kind): int(n) for kind, n in data.get("iteration_errors", [])})


def encode_status(status: SourceStatus) -> Plain:
    """A source status as plain data."""
    out: Plain = {name: getattr(status, name) for name in _STATUS_FIELDS}
    out["events"] = [[elapsed, text] for elapsed, text in status.events]
    return out


def decode_status(data: Plain) -> SourceStatus:
    """The inverse of :func:`encode_status`."""
    status = SourceStatus(**{name: data[name] for name in _STATUS_FIELDS if name in data})
    status.events = [(float(elapsed), str(text)) for elapsed, text in data["events"]]
    return status


def encode_custom(metric: CustomMetric) -> Plain:
    """A custom metric as plain data."""
    return {"name": metric.name, "kind": metric.kind, "count": metric.count,
            "total": metric.total, "last": metric.last, "min": metric.min, "max": metric.max,
            "hist": metric.hist.encode()}


def decode_custom(data: Plain) -> CustomMetric:
    """The inverse of :func:`encode_custom`."""
    return CustomMetric(str(data["name"]), str(data["kind"]), int(data["count"]),
                        float(data["total"]), float(data["last"]), float(data["min"]),
                        float(data["max"]), Histogram.decode(bytes(data["hist"])))


def encode_payload(payload: Payload) -> Plain:
    """A payload as plain, msgpack-able data."""
    return {"stats": [[name, encode_stats(iv)] for name, iv in payload.stats.items()],
            "status": encode_status(payload.status),
            "custom": [[name, encode_custom(m)] for name, m in payload.custom.items()]}


def decode_payload(data: Plain) -> Payload:
    """The inverse of :func:`encode_payload`."""
    stats = {str(name): decode_stats(iv) for name, iv in data["stats"]}
    custom = {str(name): decode_custom(m) for name, m in data["custom"]}
    return Payload(stats, decode_status(data["status"]), custom)


__all__ = ["decode_payload", "decode_stats", "encode_payload", "encode_stats"]
