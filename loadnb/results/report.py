"""A standalone HTML report of one run, or several overlaid: opens offline, shareable as a file.

:func:`write_report` (``result.report(path)``, ``loadnb report RUN_OR_FILE ... -o report.html``)
writes one HTML file: BokehJS inline (:data:`bokeh.resources.INLINE`, no network), the summary,
the per-name table, thresholds and alerts as HTML tables (escaped), and charts: throughput and
users, latency percentiles, errors over time, the generator's loop lag and CPU, and the custom
metrics when there are some. With several runs the charts overlay them (one colour per run, the
run id in the legend) and the tables sit side by side. Long series are decimated for the charts
(at most :data:`MAX_POINTS` points per series: every n-th interval, the last one kept); the tables
are exact. A 10-minute run at 0.5 s intervals (1,200 snapshots, two names, two custom metrics) makes
a report of about 1.35 MB, 1.27 MB of it BokehJS (its core only: no widgets, tables, WebGL).
The summary table has the protocol, the connections opened and their connect and TLS-handshake
percentiles (those rows when measured), and each run's message streams have a table.

It takes anything shaped like a :class:`~loadnb.results.result.Result` (:class:`Reportable`): it
imports neither the result, the history nor a face, and pandas and Bokeh only inside functions.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Protocol

from ..charts import palette
from ..charts.axes import drawn_rates, readable_axes
from ..record.summary import Summary
from ..text.numbers import count, is_number, trimmed
from .observed import metric_of, server_metrics, server_table, slowest_table, trace_url_of

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.models import Model
    from bokeh.plotting import figure

#: Most points of one series in a chart (the tables are not decimated).
MAX_POINTS = 1000
_DASHES = {"p50_ms": "solid", "p95_ms": "dashed", "p99_ms": "dotted"}


class Reportable(Protocol):
    """What a report reads of a run (a :class:`~loadnb.results.result.Result` is one)."""

    @property
    def run_id(self) -> str: ...

    @property
    def summary(self) -> Summary: ...

    @property
    def df(self) -> pd.DataFrame: ...

    @property
    def stats(self) -> pd.DataFrame: ...

    @property
    def alerts(self) -> pd.DataFrame: ...

    @property
    def custom(self) -> pd.DataFrame: ...


def decimate(frame: pd.DataFrame, limit: int = MAX_POINTS) -> pd.DataFrame:
    """Every n-th row of ``frame`` so that at most ``limit`` remain, the last row kept."""
    if len(frame) <= limit:
        return frame
    step = math.ceil(len(frame) / (limit - 1))
    picked = list(range(0, len(frame), step))
    if picked[-1] != len(frame) - 1:
        picked.append(len(frame) - 1)
    return frame.iloc[picked]


def _cell(value: Any) -> str:
    """A table cell's text: a count, a number (:func:`~loadnb.text.numbers.trimmed`), "—" for
    no value, or the value as text."""
    if value is None or is_number(value):
        return count(value) if isinstance(value, int) else trimmed(value)
    return str(value)


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    empty = "" if rows else f"<tr><td colspan='{len(columns)}'>none</td></tr>"
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}{empty}</tbody></table>"


def _frame_table(frame: pd.DataFrame, caption: str) -> str:
    rows = [[v.item() if hasattr(v, "item") else v for v in row]
            for row in frame.itertuples(index=False)]
    return _table(list(frame.columns), rows, caption)


_SUMMARY_ROWS: tuple[tuple[str, Callable[[Summary], object]], ...] = (
    ("target", lambda s: s["target"]), ("state", lambda s: s["state"]),
    ("started at (UTC)", lambda s: s["started_at"]),
    ("duration (s)", lambda s: s["duration_s"]), ("start-up (s)", lambda s: s["startup_s"]),
    ("start-up CPU (s)", lambda s: s["startup_cpu_s"]), ("model", lambda s: s["model"]),
    ("transport", lambda s: s["transport"]), ("protocol", lambda s: s["protocol"]),
    ("requests", lambda s: s["total_requests"]),
    ("failed", lambda s: s["failed_requests"]),
    ("success rate (%)", lambda s: s["success_rate"]),
    ("avg rps", lambda s: s["avg_rps"]), ("peak rps", lambda s: s["peak_rps"]),
    ("p50 (ms)", lambda s: s["latency_ms"]["p50"]),
    ("p95 (ms)", lambda s: s["latency_ms"]["p95"]),
    ("p99 (ms)", lambda s: s["latency_ms"]["p99"]),
    ("max (ms)", lambda s: s["latency_ms"]["max"]),
    ("errors", lambda s: ", ".join(f"{k}: {v:,}" for k, v in s["errors"].items())),
    ("aborted by", lambda s: s["aborted_by"]),
    ("warnings", lambda s: "; ".join(s["warnings"])),
    ("loadnb", lambda s: s["versions"]["loadnb"]),
)


#: Rows after the latency's, shown when a run measured them (the fast and HTTP/2 clients time
#: the connections they open; TLS only over https).
_CONNECTION_ROWS: tuple[tuple[str, Callable[[Summary], object]], ...] = (
    ("connections opened", lambda s: s["connections"]["opened"] or None),
    ("connect p50 (ms)", lambda s: s["connections"]["connect_ms"]["p50"]),
    ("connect p95 (ms)", lambda s: s["connections"]["connect_ms"]["p95"]),
    ("TLS handshake p50 (ms)", lambda s: s["connections"]["tls_ms"]["p50"]),
    ("TLS handshake p95 (ms)", lambda s: s["connections"]["tls_ms"]["p95"]),
)


def _summary_table(summaries: Sequence[tuple[str, Summary]]) -> str:
    rows = [[label, *(get(s) for _, s in summaries)] for label, get in _SUMMARY_ROWS]
    at = 1 + next(i for i, row in enumerate(rows) if row[0] == "max (ms)")
    for label, get in reversed(_CONNECTION_ROWS):
        values = [get(s) for _, s in summaries]
        if any(v is not None for v in values):
            rows.insert(at, [label, *values])
    return _table(["", *(run_id for run_id, _ in summaries)], rows, "Summary")


_STREAM_COLUMNS = ("stream", "kind", "opened", "failed", "closed", "sent", "received",
                   "p50_ms", "p95_ms", "p99_ms")


def _streams_table(summary: Summary) -> str:
    """The run's message streams (WebSocket, SSE), one row per name; nothing without any."""
    streams = summary["messages"]
    if not streams:
        return ""
    rows = [[name, m["kind"], m["opened"], m["failed"], m["closed"], m["sent"], m["received"],
             m["p50_ms"], m["p95_ms"], m["p99_ms"]] for name, m in streams.items()]
    return _table(_STREAM_COLUMNS, rows, "Message streams (request–reply ms)")


def _figure(title: str, y_label: str) -> figure:
    from bokeh.plotting import figure

    fig = figure(title=title, height=260, sizing_mode="stretch_width",
                 tools="pan,box_zoom,wheel_zoom,reset,save", x_axis_label="elapsed (s)",
                 y_axis_label=y_label)
    fig.toolbar.logo = None
    return readable_axes(fig)


def _lines(fig: figure, runs: Sequence[tuple[str, pd.DataFrame]],
           columns: Sequence[tuple[str, str]], *, x: str = "elapsed_time") -> int:
    """One line per (run, column): colour per run, dash per column; returns the lines drawn."""
    from bokeh.models import ColumnDataSource

    drawn = 0
    several = len(runs) > 1
    for i, (run_id, frame) in enumerate(runs):
        if frame.empty:
            continue
        data = decimate(frame)
        for j, (column, label) in enumerate(columns):
            if column not in data:
                continue
            source = ColumnDataSource({"x": data[x].to_numpy(dtype=float),
                                       "y": data[column].to_numpy(dtype=float)})
            colour = palette.series(i if several else j)
            dash = list(_DASHES.values())[j % 3] if several else "solid"
            legend = f"{run_id} {label}" if several else label
            fig.line("x", "y", source=source, color=colour, line_dash=dash, line_width=1.6,
                     legend_label=legend)
            drawn += 1
    if drawn:
        fig.legend.location = "top_left"
        fig.legend.click_policy = "hide"
        fig.legend.label_text_font_size = "9pt"
    return drawn


def _errors_per_interval(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["elapsed_time", "interval_failed"]]


def _throughput(frame: pd.DataFrame) -> pd.DataFrame:
    """``elapsed_time`` and ``current_rps`` as drawn: the final, partial interval left out
    (:func:`loadnb.charts.axes.drawn_rates`)."""
    rates = drawn_rates(frame["elapsed_time"].tolist(), frame["current_rps"].tolist(),
                        frame["phase"].astype(str).tolist())
    return frame[["elapsed_time"]].assign(current_rps=rates)


def _charts(runs: Sequence[Reportable]) -> list[tuple[str, Model]]:
    frames = [(r.run_id, r.df) for r in runs]
    charts: list[tuple[str, Model]] = []
    fig = _figure("Throughput", "requests/s")
    _lines(fig, [(run_id, _throughput(f)) for run_id, f in frames], [("current_rps", "rps")])
    charts.append(("throughput", fig))
    fig = _figure("Users and requests in flight", "count")
    _lines(fig, frames, [("active_users", "users"), ("in_flight", "in flight")])
    charts.append(("users", fig))
    fig = _figure("Latency percentiles", "ms")
    _lines(fig, frames, [("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")])
    charts.append(("latency", fig))
    fig = _figure("Failed requests per interval", "failed")
    _lines(fig, [(run_id, _errors_per_interval(f)) for run_id, f in frames],
           [("interval_failed", "failed")])
    charts.append(("errors", fig))
    fig = _figure("Generator: loop lag", "ms")
    _lines(fig, frames, [("loop_lag_ms", "loop lag")])
    charts.append(("lag", fig))
    fig = _figure("Generator: CPU", "% of a core")
    _lines(fig, frames, [("cpu_percent", "CPU")])
    charts.append(("cpu", fig))
    customs = [(r.run_id, r.custom) for r in runs]
    metrics: dict[str, str] = {}
    for _, frame in customs:
        for metric, kind in zip(frame["metric"], frame["kind"], strict=True):
            metrics.setdefault(str(metric), str(kind))
    for n, (metric, kind) in enumerate(metrics.items()):
        column, label = {"counter": ("total", "total"), "gauge": ("last", "last")}.get(
            kind, ("p95_ms", "p95 ms"))
        fig = _figure(f"Custom: {metric} ({kind})", label)
        _lines(fig, [(run_id, frame[frame["metric"] == metric]) for run_id, frame in customs],
               [(column, label)])
        charts.append((f"custom{n}", fig))
    return charts + _server_charts(runs)


def _server_charts(runs: Sequence[Reportable]) -> list[tuple[str, Model]]:
    """One chart per server metric (every label set a line), at most a few."""
    servers = [(r.run_id, _server_of(r)) for r in runs]
    charts: list[tuple[str, Model]] = []
    for n, metric in enumerate(server_metrics([f for _, f in servers])):
        fig = _figure(f"Target: {metric}", "value (counters: per second)")
        for run_id, frame in servers:
            part = frame[frame["series"].map(metric_of) == metric]
            wide = part.pivot_table(index="elapsed_time", columns="series", values="value",
                                    aggfunc="last").reset_index()
            cols = [(c, str(c).removeprefix(metric) or metric) for c in wide.columns
                    if c != "elapsed_time"]
            _lines(fig, [(run_id, wide)], cols)
        charts.append((f"server{n}", fig))
    return charts


def _server_of(run: Reportable) -> pd.DataFrame:
    import pandas as pd

    frame = getattr(run, "server", None)
    return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(
        columns=["elapsed_time", "series", "value"])


_CSS = Template("""
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;
max-width:1400px;padding:0 1em;color:$text}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid $rule}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:13px}
caption{text-align:left;font-weight:600;padding:.2em 0}
th,td{border:1px solid $rule;padding:.25em .6em;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}
thead th{background:$head}.side{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
.side>div{overflow-x:auto;max-width:100%}.chart{width:100%;margin-bottom:1em}
.note{color:$note;font-size:12px}
""").substitute(text=palette.PAGE_TEXT, rule=palette.PAGE_RULE, head=palette.PAGE_HEAD,
               note=palette.PAGE_NOTE)


def render(runs: Sequence[Reportable], *, title: str | None = None) -> str:
    """The report's HTML (see the module docstring)."""
    from bokeh.embed import components
    from bokeh.resources import Resources

    if not runs:
        raise ValueError("a report needs at least one run")
    summaries = [(r.run_id, r.summary) for r in runs]
    title = title or ("loadnb report: " + ", ".join(run_id for run_id, _ in summaries))
    charts = _charts(runs)
    script, divs = components(dict(charts))
    # BokehJS inline (bokeh.resources.INLINE's mode), only the core the figures need: no
    # widgets, tables, WebGL or MathJax (2.7 MB less)
    resources = Resources(mode="inline", components=["bokeh"])
    per_run = []
    for r in runs:
        s = r.summary
        thresholds = s["thresholds"]
        alerts = r.alerts
        per_run.append(
            f"<div><h3>{html.escape(r.run_id)}</h3>"
            + _frame_table(r.stats, "Per request name") + _streams_table(s)
            + _table(["threshold", "observed", "passed"],
                     [[t["expr"], t["observed"], t["passed"]] for t in thresholds],
                     "Thresholds")
            + _frame_table(alerts, "Alerts (seconds from the start)")
            + _observed_tables(r)
            + "</div>")
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    points = max(len(r.df) for r in runs)
    note = (f"Charts show at most {MAX_POINTS:,} points per series (one interval in "
            f"{math.ceil(points / (MAX_POINTS - 1))})" if points > MAX_POINTS
            else "Charts show every interval")
    chart_html = "".join(f"<div class='chart'>{divs[name]}</div>" for name, _ in charts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{_CSS}</style>{resources.render()}{script}</head><body>"
        f"<h1>{html.escape(title)}</h1><p class='note'>Made {made}. {note}; tables are exact. "
        "Times are seconds from each run's start.</p>"
        f"<h2>Summary</h2><div class='side'><div>{_summary_table(summaries)}</div></div>"
        f"<h2>Charts</h2>{chart_html}"
        f"<h2>Per run</h2><div class='side'>{''.join(per_run)}</div>"
        "</body></html>\n")


def _observed_tables(run: Reportable) -> str:
    """The target's series summed up, and the slowest traced requests (when the run has them)."""
    server = _server_of(run)
    out = "" if server.empty else _frame_table(server_table(server), "Target (server.*)")
    slowest = getattr(run, "slowest", None)
    if slowest is not None and not slowest.empty:
        out += slowest_table(slowest, trace_url_of(run.summary))
    return out


def write_report(runs: Sequence[Reportable], path: str | os.PathLike[str], *,
                 title: str | None = None) -> Path:
    """Write the report of ``runs`` (one, or several overlaid) to ``path``; returns it."""
    out = Path(path)
    out.write_text(render(runs, title=title), encoding="utf-8")
    return out


__all__ = ["MAX_POINTS", "Reportable", "decimate", "render", "write_report"]
