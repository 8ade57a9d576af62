"""Dashboard parts beyond the basic time series: the planned load, live-change markers, the
Generator tab and the per-request-name statistics table.

* The **plan** is the spec's :meth:`~loadnb.spec.config.LoadSpec.load_shape` sampled at
  :data:`PLAN_POINTS` points, drawn dashed under the measured series before and during a run.
* A **marker** is a vertical line (a ``VSpan`` glyph, so it hovers) plus a short label at every
  snapshot whose ``event`` is not empty (a live ``set_users`` / ``set_rate``): one small source,
  shared by every time-series figure.
* The **Generator** tab shows the generator's own health over time (event-loop lag, CPU, dropped
  arrivals, requests waiting for a connection), with the limits its alert rules fire at
  (:mod:`loadnb.rules.alerts`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bokeh.models import Column, ColumnDataSource, DataRange1d, HoverTool
from bokeh.models.annotations import LabelSet, Span
from bokeh.models.glyphs import Line as LineGlyph
from bokeh.models.glyphs import VSpan
from bokeh.models.widgets.tables import DataTable, NumberFormatter, StringFormatter, TableColumn
from bokeh.plotting import figure

from ..charts import palette
from ..rules.alerts import CPU_LIMIT, LAG_LIMIT_MS
from ..spec.config import LoadSpec
from .figures import Line, anchor_source, flow, legend_item, lines, make_figure, render

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.models.sources import DataDict

#: Points of the planned-load line (``spec.load_shape().sample(PLAN_POINTS)``).
PLAN_POINTS = 200
#: Snapshot columns of the Generator tab.
GENERATOR_COLUMNS: tuple[str, ...] = (
    "elapsed_time", "loop_lag_ms", "cpu_percent", "dropped_arrivals", "waiting_for_connection")
#: Columns of the per-name statistics table: (source column, ``Result.stats`` column, title,
#: number format; ``None`` for text).
STATS_TABLE: tuple[tuple[str, str, str, str | None], ...] = (
    ("name", "name", "Request name", None), ("requests", "requests", "Requests", "0,0"),
    ("completed", "completed", "Completed", "0,0"), ("failed", "failed", "Failed", "0,0"),
    ("success_rate", "success_rate", "Success %", "0.0"), ("rps", "rps", "req/s", "0,0.0"),
    ("p50_ms", "p50_ms", "p50 ms", "0,0.0"), ("p90_ms", "p90_ms", "p90 ms", "0,0.0"),
    ("p99_ms", "p99_ms", "p99 ms", "0,0.0"), ("max_ms", "max_ms", "max ms", "0,0.0"),
    ("service_p50_ms", "service_p50_ms", "service p50", "0,0.0"),
    ("service_p99_ms", "service_p99_ms", "service p99", "0,0.0"),
)


# -- the plan ------------------------------------------------------------------------------------
def empty_plan() -> DataDict:
    """The plan source with no line (a run bounded only by a request count has no time axis)."""
    return {"plan_time": [], "plan": []}


def plan_data(spec: LoadSpec) -> DataDict:
    """``spec``'s planned load over the run: users (closed model) or arrivals/s (open model)."""
    if spec.duration is None:  # bounded by a request count only
        return empty_plan()
    times, targets = spec.load_shape().sample(PLAN_POINTS)
    return {"plan_time": times, "plan": targets}


def add_plan(fig: figure, plan: ColumnDataSource) -> Line:
    """A dashed "plan" line (legend item included) on ``fig``."""
    glyph = LineGlyph(x="plan_time", y="plan", line_width=2, line_dash="dashed",
                      line_color=palette.PLAN)
    line = render(fig, glyph, plan, "plan", level="underlay")
    return line, legend_item(fig, line)


def plan_text(spec: LoadSpec) -> str:
    """The plan in words, e.g. ``stages: 3 s → 5 users, 4 s → 5 users, 3 s → 0 users (10 s)``."""
    unit = "users" if spec.rate is None else "req/s"
    if spec.stages is not None:
        steps = ", ".join(f"{d:g} s → {v:g} {unit}" for d, v in spec.stages)
        return f"stages: {steps} ({sum(d for d, _ in spec.stages):g} s)"
    if spec.shape_fn is not None:
        name = getattr(spec.shape_fn, "__name__", "shape")
        return f"shape: {unit} = {name}(elapsed seconds), for {spec.duration or 0:g} s"
    return ""


# -- live-change markers ---------------------------------------------------------------------------
def empty_events() -> DataDict:
    """The marker source with no marker."""
    return {"event_time": [], "event": []}


def add_markers(fig: figure, events: ColumnDataSource, *, label: bool = False) -> None:
    """A vertical line at every live change (hover shows what changed); ``label``: and its text."""
    marks = render(fig, VSpan(x="event_time", line_color=palette.MARKER, line_width=2,
                              line_dash="dotted", line_alpha=0.9), events)
    fig.add_tools(HoverTool(renderers=[marks], tooltips=[
        ("live change", "@event"), ("at", "@event_time{0.0} s")]))
    if label:
        fig.add_layout(LabelSet(x="event_time", y=4, y_units="screen", text="event",
                                source=events, x_offset=3, text_font_size="9px",
                                text_color=palette.MARKER, level="overlay"))


# -- latency labels --------------------------------------------------------------------------------
def latency_titles(spec: LoadSpec) -> tuple[str, str, str]:
    """Titles of the two latency charts and the legend label of the first, from what the
    latency measures in this run (the summary's ``latency_basis``)."""
    service = "Service time per interval (from the send), ms"
    if spec.rate is not None:
        return "Response time per interval (from the intended start), ms", service, "response"
    if spec.expected_interval is not None:
        return (f"Latency per interval, corrected for coordinated omission "
                f"({spec.expected_interval * 1e3:g} ms), ms", service, "corrected")
    return "Latency per interval (from the send), ms", service, "latency"


# -- the Generator tab -----------------------------------------------------------------------------
def _limit(fig: figure, at: float) -> None:
    fig.add_layout(Span(location=at, dimension="width", line_color=palette.ERROR,
                        line_dash="dashed", line_width=1))


def generator_tab(source: ColumnDataSource, events: ColumnDataSource, x_range: DataRange1d,
                  anchor: ColumnDataSource) -> tuple[Column, list[figure]]:
    """The Generator tab: is loadnb itself the bottleneck? Dashed red lines are the limits
    above which its alert rule fires (:mod:`loadnb.rules.alerts`)."""
    lag = make_figure("Event-loop lag (ms): how late the generator ran", "ms", x_range,
                      anchor=anchor)
    lines(lag, source, [("loop_lag_ms", "lag")], "0,0.0",
          extra=[("warns above", f"{LAG_LIMIT_MS:g} ms")])
    _limit(lag, LAG_LIMIT_MS)
    cpu = make_figure("Generator CPU (% of one core)", "%", x_range, anchor=anchor)
    render(cpu, LineGlyph(x="x", y="y", line_alpha=0.0), anchor_source(100.0))  # a full core
    lines(cpu, source, [("cpu_percent", "cpu")], "0,0.0", first_color=1,
          extra=[("warns above", f"{CPU_LIMIT:g} %")])
    _limit(cpu, CPU_LIMIT)
    dropped = make_figure("Dropped arrivals (cumulative; open model)", "arrivals", x_range,
                          anchor=anchor)
    lines(dropped, source, [("dropped_arrivals", "dropped")], "0,0", first_color=3)
    waiting = make_figure("Requests waiting for a connection", "requests", x_range,
                          anchor=anchor)
    lines(waiting, source, [("waiting_for_connection", "waiting")], "0,0", first_color=4)
    figures = [lag, cpu, dropped, waiting]
    for fig in figures:
        add_markers(fig, events)
    grid = flow([lag, cpu], [dropped, waiting])
    return grid, figures


# -- per-name statistics ---------------------------------------------------------------------------
def empty_stats() -> DataDict:
    """The statistics table with no row (before the end of a run)."""
    return {col: [] for col, _, _, _ in STATS_TABLE}


def stats_data(stats: pd.DataFrame) -> DataDict:
    """``Result.stats`` (one row per request name) as plain lists for the table."""
    out: DataDict = {}
    for col, frame_col, _, fmt in STATS_TABLE:
        values = stats[frame_col].tolist() if frame_col in stats else []
        if fmt is not None:
            values = [math.nan if v is None else float(v) for v in values]
        out[col] = values
    return out


def stats_table(source: ColumnDataSource, width: int, height: int) -> DataTable:
    """One row per request name: counts, rate, response and service time percentiles."""
    columns = [
        TableColumn(field=col, title=title,
                    width=150 if fmt is None else 74 if col.startswith("service") else 62,
                    formatter=(StringFormatter(font_style="bold") if fmt is None
                               else NumberFormatter(format=fmt, nan_format="—")))
        for col, _, title, fmt in STATS_TABLE]
    return DataTable(source=source, columns=columns, width=width, height=height,
                     index_position=None, sortable=True, autosize_mode="none",
                     sizing_mode="stretch_width")


__all__ = ["GENERATOR_COLUMNS", "PLAN_POINTS", "STATS_TABLE", "add_markers", "add_plan",
           "empty_events", "empty_plan", "empty_stats", "generator_tab", "latency_titles",
           "plan_data", "plan_text", "stats_data", "stats_table"]
