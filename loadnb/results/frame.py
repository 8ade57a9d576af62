"""pandas views of a run record: snapshots, per-name stats, errors, timelines, alerts."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from ..charts import palette
from ..metrics.custom import CUSTOM_TIMELINE_COLUMNS, CustomMetric, custom_row
from ..metrics.messages import MESSAGES_TIMELINE_COLUMNS
from ..metrics.snapshot import COLUMNS, Snapshot
from ..metrics.stats import IntervalStats
from ..record.columns import ColumnRows
from ..record.record import NAMES_TIMELINE_COLUMNS, WORKERS_TIMELINE_COLUMNS
from ..record.summary import Summary
from ..record.summary_parts import STATS_KEYS
from ..rules.alert_engine import AlertEvent
from ..text.numbers import number

STATS_COLUMNS: tuple[str, ...] = (
    "name", "requests", "completed", "failed", "cancelled", "success_rate", "rps",
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "max_ms", "mean_ms",
    "service_p50_ms", "service_p99_ms", "bytes_received")


SERVER_COLUMNS: tuple[str, ...] = ("elapsed_time", "series", "value")


def snapshots_frame(snapshots: Sequence[Snapshot],
                    server: Sequence[tuple[float, str, float]] = ()) -> pd.DataFrame:
    """One row per snapshot, columns in schema order (an empty frame has the columns too), then
    one ``server.<metric>{labels}`` column per series of ``server`` (the target's, long format:
    NaN where a snapshot has no value of it)."""
    rows = [{c: getattr(s, c) for c in COLUMNS} for s in snapshots]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    if not server or frame.empty:
        return frame
    wide = server_frame(server).pivot_table(index="elapsed_time", columns="series",
                                            values="value", aggfunc="last", sort=False)
    wide.columns.name = None
    return frame.join(wide, on="elapsed_time")


def server_frame(rows: Iterable[tuple[float, str, float]]) -> pd.DataFrame:
    """The target's series, long format: ``elapsed_time, series, value`` (counters as
    per-second rates, gauges as read; no row for a gap)."""
    return pd.DataFrame(list(rows), columns=list(SERVER_COLUMNS)).astype(
        {"elapsed_time": "float64", "value": "float64"})


def stats_frame(totals: Mapping[str, IntervalStats], duration_s: float) -> pd.DataFrame:
    """Per request name: counts, throughput and latency percentiles over the whole run."""
    rows = []
    for name, t in totals.items():
        lat, svc = t.latency.summary(), t.service.summary()
        answered = t.completed + t.failed
        rows.append({
            "name": name, "requests": t.completed + t.failed + t.cancelled,
            "completed": t.completed, "failed": t.failed, "cancelled": t.cancelled,
            "success_rate": 100.0 * t.completed / answered if answered else float("nan"),
            "rps": answered / duration_s if duration_s > 0 else float("nan"),
            "p50_ms": lat["p50"], "p90_ms": lat["p90"], "p95_ms": lat["p95"],
            "p99_ms": lat["p99"], "p99.9_ms": lat["p99.9"], "max_ms": lat["max"],
            "mean_ms": lat["mean"], "service_p50_ms": svc["p50"], "service_p99_ms": svc["p99"],
            "bytes_received": t.bytes,
        })
    return pd.DataFrame(rows, columns=list(STATS_COLUMNS)).astype(
        {c: "float64" for c in STATS_COLUMNS if c.endswith("_ms")})


def errors_frame(totals: Mapping[str, IntervalStats],
                 overall: IntervalStats | None = None) -> pd.DataFrame:
    """One row per (name, kind) with its count and a sample message (most frequent first);
    with ``overall``, also one per (scenario task, kind) that failed iterations."""
    rows = [{"name": name, "kind": kind, "count": n, "sample": t.samples.get(kind, "")}
            for name, t in totals.items() for kind, n in t.errors.items()]
    if overall is not None:
        for key, n in overall.iteration_errors.items():
            task, _, kind = key.partition("\x00")
            rows.append({"name": task, "kind": kind, "count": n,
                         "sample": overall.samples.get(key, "")})
    frame = pd.DataFrame(rows, columns=["name", "kind", "count", "sample"])
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def workers_frame(rows: Iterable[tuple[object, ...]]) -> pd.DataFrame:
    """One row per (interval, worker process): :data:`WORKERS_TIMELINE_COLUMNS` (a record's
    :class:`~loadnb.record.workers.WorkersTimeline` straight from its columns)."""
    return _rows_frame(rows, WORKERS_TIMELINE_COLUMNS)


def names_timeline_frame(rows: Iterable[tuple[object, ...]]) -> pd.DataFrame:
    """Windowed stats per request name: one row per (interval, name) that had requests (a
    record's :class:`~loadnb.record.names.NamesTimeline` straight from its columns)."""
    return _rows_frame(rows, NAMES_TIMELINE_COLUMNS)


def _rows_frame(rows: Iterable[tuple[object, ...]], columns: Sequence[str]) -> pd.DataFrame:
    if isinstance(rows, ColumnRows) and len(rows):  # kept by column: no tuples made
        return pd.DataFrame(rows.columns(), columns=list(columns))
    return pd.DataFrame(list(rows), columns=list(columns))


def errors_timeline_frame(timeline: Iterable[tuple[float, str, int]]) -> pd.DataFrame:
    """Failures per interval and kind, long format: ``elapsed_time, kind, count``."""
    return pd.DataFrame(list(timeline), columns=["elapsed_time", "kind", "count"])


ALERT_COLUMNS: tuple[str, ...] = ("rule", "message", "fired_at", "cleared_at")


def alerts_frame(events: Iterable[AlertEvent]) -> pd.DataFrame:
    """One row per alert fire: ``rule, message, fired_at, cleared_at`` (NaN while active)."""
    rows = [e.as_dict() for e in events]
    return pd.DataFrame(rows, columns=list(ALERT_COLUMNS)).astype(
        {"fired_at": "float64", "cleared_at": "float64"})


def custom_frame(rows: Iterable[tuple[object, ...]]) -> pd.DataFrame:
    """Custom metrics per interval, long format: one row per (interval, metric) updated in it,
    columns :data:`loadnb.metrics.custom.CUSTOM_TIMELINE_COLUMNS` (timings in ms; NaN where a column
    does not apply to the kind)."""
    return pd.DataFrame(list(rows), columns=list(CUSTOM_TIMELINE_COLUMNS))


def messages_frame(rows: Iterable[tuple[object, ...]]) -> pd.DataFrame:
    """Message streams per interval, long format: one row per (interval, stream), columns
    :data:`loadnb.metrics.messages.MESSAGES_TIMELINE_COLUMNS`."""
    return pd.DataFrame(list(rows), columns=list(MESSAGES_TIMELINE_COLUMNS))


def custom_totals_frame(custom: Mapping[str, CustomMetric]) -> pd.DataFrame:
    """Custom metrics over the whole run: one row per metric (the timeline's columns but
    ``elapsed_time``)."""
    rows = [custom_row(0.0, metric)[1:] for metric in custom.values()]
    return pd.DataFrame(rows, columns=list(CUSTOM_TIMELINE_COLUMNS[1:]))


def plot_frame(df: pd.DataFrame, columns: Sequence[str], title: str = "") -> Any:
    """A Bokeh figure of ``columns`` of a snapshot frame over ``elapsed_time`` (one line each;
    Bokeh imported here, on first use). ``ValueError`` for a name that is not a column."""
    from bokeh.plotting import figure

    missing = [c for c in columns if c not in df.columns]
    if missing or not columns:
        raise ValueError(f"{', '.join(map(repr, missing)) or 'nothing'} is not a column of df "
                         f"(columns: {', '.join(df.columns)})")
    fig = figure(title=title, x_axis_label="elapsed_time (s)", height=300, width=700,
                 tools="pan,wheel_zoom,box_zoom,reset,save,hover")
    for i, column in enumerate(columns):
        fig.line(df["elapsed_time"].to_numpy(float), df[column].to_numpy(float),
                 legend_label=column, line_width=2, color=palette.series(i))
    fig.legend.location = "top_left"
    return fig


def _cell(value: Any, digits: int = 1) -> str:
    """A number as :func:`~loadnb.text.numbers.number` shows it ("—" for none), text escaped."""
    if value is None or isinstance(value, bool | int | float):
        return number(value, digits)
    return html.escape(str(value))


def summary_html(summary: Summary) -> str:
    """A summary card (plain, escaped HTML) for a notebook: state, requests, throughput,
    success, latency percentiles, alerts, thresholds and the per-name table."""
    lat = summary["latency_ms"]
    head = (f"<b>loadnb run {html.escape(summary['run_id'])}</b> "
            f"({html.escape(summary['state'])}): "
            f"{html.escape(summary['target'] or summary['url'])}")
    facts = [("requests", _cell(summary["total_requests"])),
             ("failed", _cell(summary["failed_requests"])),
             ("rps (avg / peak)", f"{_cell(summary['avg_rps'])} / "
                                  f"{_cell(summary['peak_rps'])}"),
             ("success", f"{_cell(summary['success_rate'])} %"),
             ("p50 / p95 / p99 ms", " / ".join(_cell(lat[q], 2) for q in ("p50", "p95", "p99")))]
    rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>"
                   for k, v in facts)
    for alert in summary["alerts"]:
        rows += (f"<tr><th style='text-align:left'>alert</th><td>"
                 f"{html.escape(alert['rule'])}: "
                 f"{html.escape(alert['message'])}</td></tr>")
    for t in summary["thresholds"]:
        mark = "✓" if t["passed"] else "✗"
        rows += (f"<tr><th style='text-align:left'>threshold</th><td>{mark} "
                 f"{html.escape(t['expr'])}</td></tr>")
    names = "".join("<tr>" + "".join(f"<td>{_cell(s[k], 2)}</td>" for k in STATS_KEYS) + "</tr>"
                    for s in summary["stats"])
    table = (f"<table><tr>{''.join(f'<th>{k}</th>' for k in STATS_KEYS)}</tr>{names}</table>"
             if names else "")
    return f"<div>{head}<table>{rows}</table>{table}</div>"


SLOWEST_COLUMNS: tuple[str, ...] = ("elapsed_time", "name", "latency_ms", "trace_id")


def slowest_frame(rows: Iterable[tuple[float, str, float, str]]) -> pd.DataFrame:
    """The slowest traced requests of each interval: ``elapsed_time, name, latency_ms,
    trace_id`` (slowest first within an interval)."""
    return pd.DataFrame([(t, n, lat * 1e3, tid) for t, n, lat, tid in rows],
                        columns=list(SLOWEST_COLUMNS)).astype(
        {"elapsed_time": "float64", "latency_ms": "float64"})


__all__ = ["ALERT_COLUMNS", "SERVER_COLUMNS", "SLOWEST_COLUMNS", "STATS_COLUMNS", "alerts_frame",
           "custom_frame", "custom_totals_frame", "errors_frame", "errors_timeline_frame",
           "messages_frame", "names_timeline_frame", "plot_frame", "server_frame",
           "slowest_frame", "snapshots_frame", "stats_frame", "summary_html",
           "workers_frame"]
