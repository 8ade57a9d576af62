"""The Bokeh figures of the live dashboard: tabs Overview, Latency, Errors and Summary.

Only layout lives here (what is drawn from which column); :mod:`loadnb.ui.dashboard` feeds the
data sources. Each tab has its own sources and x range, so a streamed row repaints only the plots
of the tab on screen (hidden tabs catch up when shown). Time-series columns are named like the
snapshot DataFrame's columns (:data:`loadnb.snapshot.COLUMNS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from bokeh.core.properties import value
from bokeh.layouts import column, gridplot, row
from bokeh.models import (
    Column,
    ColumnDataSource,
    DataRange1d,
    FactorRange,
    GridPlot,
    HoverTool,
    Range,
    Range1d,
    TabPanel,
    Tabs,
)
from bokeh.models.annotations import LegendItem, Title
from bokeh.models.renderers import DataRenderer, GlyphRenderer
from bokeh.models.widgets.tables import DataTable, NumberFormatter, StringFormatter, TableColumn
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

if TYPE_CHECKING:
    from bokeh.models.sources import DataDict

WIDTH, HEIGHT = 450, 210
TOOLS = "pan,box_zoom,wheel_zoom,reset,save"
#: Lines per error chart; kinds beyond the last but one share the last line ("other").
ERROR_SLOTS = 6
#: Percentiles of the whole run shown in the latency distribution chart.
DIST_QS: tuple[float, ...] = (50, 75, 90, 95, 99, 99.9, 99.99, 100)
DIST_LABELS: tuple[str, ...] = ("p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max")
#: Snapshot columns drawn in the Overview tab and the Latency tab's time series.
OVERVIEW_COLUMNS: tuple[str, ...] = (
    "elapsed_time", "current_rps", "target_rate", "success_rate", "active_users", "target_users",
    "progress_percent")
LATENCY_COLUMNS: tuple[str, ...] = ("elapsed_time", "p50_ms", "p90_ms", "p95_ms", "p99_ms")
#: Columns of the per-interval errors source: failures per second by kind / by status code.
KIND_COLUMNS: tuple[str, ...] = tuple(f"kind{i}" for i in range(ERROR_SLOTS))
CODE_COLUMNS: tuple[str, ...] = tuple(f"code{i}" for i in range(ERROR_SLOTS))
ERROR_COLUMNS: tuple[str, ...] = ("elapsed_time", *KIND_COLUMNS, *CODE_COLUMNS)
#: Columns of the timeline table (Summary tab): (column, title, number format).
TIMELINE: tuple[tuple[str, str, str], ...] = (
    ("elapsed_time", "Elapsed", "0.0"), ("progress_percent", "Progress %", "0.0"),
    ("active_users", "Active", "0,0"), ("current_rps", "RPS", "0,0.0"),
    ("success_rate", "Success %", "0.0"), ("completed_requests", "Completed", "0,0"),
    ("failed_requests", "Failed", "0,0"), ("p50_ms", "p50 ms", "0,0.0"),
    ("p99_ms", "p99 ms", "0,0.0"),
)


@dataclass
class ErrorLines:
    """The pre-made, initially hidden lines of one error chart and the labels given to them."""

    renderers: list[GlyphRenderer[Any]]
    items: list[LegendItem]
    slots: dict[str, int] = field(default_factory=dict)

    def slot(self, label: str) -> int:
        """The line index for ``label``, showing a new line on first use (the last is 'other')."""
        if label in self.slots:
            return self.slots[label]
        index = len(self.slots)
        if index >= ERROR_SLOTS - 1:
            label, index = "other", ERROR_SLOTS - 1
            if label in self.slots:
                return index
        self.slots[label] = index
        self.renderers[index].visible = True
        self.items[index].label = value(label)
        self.items[index].visible = True
        return index

    def clear(self) -> None:
        """Hide every line again (a new run starts)."""
        for renderer, item in zip(self.renderers, self.items, strict=True):
            renderer.visible = False
            item.visible = False
        self.slots.clear()


#: Snapshot columns of the timeline table (Summary tab).
TIMELINE_COLUMNS: tuple[str, ...] = tuple(col for col, _, _ in TIMELINE)
#: Columns of each streamed source, by name.
STREAM_COLUMNS: dict[str, tuple[str, ...]] = {
    "overview": OVERVIEW_COLUMNS, "latency": LATENCY_COLUMNS, "errors": ERROR_COLUMNS,
    "timeline": TIMELINE_COLUMNS}


@dataclass
class Charts:
    """The dashboard's data sources, figures and the ``Tabs`` layout that holds them.

    ``streams`` maps a name to a source that gets one row per snapshot; ``tab_streams[i]`` are the
    names of the streamed sources shown in tab ``i``.
    """

    streams: dict[str, ColumnDataSource]
    tab_streams: list[tuple[str, ...]]
    dist_source: ColumnDataSource
    hist_source: ColumnDataSource
    summary_source: ColumnDataSource
    kinds: ErrorLines
    codes: ErrorLines
    dist_figure: figure
    #: The target lines: ``rate`` (open model) and ``users`` (closed model).
    targets: dict[str, Line]
    layout: Tabs


def title_of(fig: figure) -> Title:
    """The figure's title model (figures made here always have one)."""
    assert isinstance(fig.title, Title)
    return fig.title


def _figure(title: str, y_label: str, x_range: Range, y_range: Range | None = None) -> figure:
    fig = figure(title=title, width=WIDTH, height=HEIGHT, tools=TOOLS, y_axis_label=y_label,
                 x_axis_label="elapsed (s)", toolbar_location="above", x_range=x_range,
                 y_range=y_range or DataRange1d())
    fig.toolbar.logo = None
    title_of(fig).text_font_size = "12px"
    return fig


Line: TypeAlias = "tuple[GlyphRenderer[Any], LegendItem]"


def _lines(fig: figure, source: ColumnDataSource,
           series: list[tuple[str, str]], hover: str) -> list[Line]:
    """One line per ``(column, label)``, a legend when there are several, and a hover tool."""
    renderers: list[DataRenderer] = []
    for i, (col, label) in enumerate(series):
        line = fig.line("elapsed_time", col, source=source, line_width=2, color=Category10_10[i],
                        legend_label=label)
        renderers.append(line)
    if len(series) == 1:
        fig.legend.visible = False
    else:
        fig.legend.location = "top_left"
        fig.legend.click_policy = "hide"
        fig.legend.label_text_font_size = "10px"
    fig.add_tools(HoverTool(renderers=renderers[:1], mode="vline", tooltips=[
        ("elapsed", "@elapsed_time{0.0} s"), *[(lab, f"@{{{col}}}{{{hover}}}")
                                                for col, lab in series]]))
    items = [item for item in fig.legend[0].items if isinstance(item, LegendItem)]
    return [(r, item) for r, item in zip(renderers, items, strict=True)
            if isinstance(r, GlyphRenderer)]


def _overview(source: ColumnDataSource, x_range: DataRange1d) -> tuple[GridPlot, dict[str, Line]]:
    rps = _figure("Throughput (requests/s)", "req/s", x_range=x_range)
    rate = _lines(rps, source, [("current_rps", "current"), ("target_rate", "target")], "0,0.0")
    success = _figure("Success rate (%)", "%", x_range=x_range, y_range=Range1d(start=0, end=105))
    _lines(success, source, [("success_rate", "success %")], "0.0")
    active = _figure("Active users / in flight", "users", x_range=x_range)
    users = _lines(active, source, [("active_users", "active"), ("target_users", "target")],
                   "0,0")
    progress = _figure("Progress (%)", "%", x_range=x_range, y_range=Range1d(start=0, end=105))
    _lines(progress, source, [("progress_percent", "progress %")], "0.0")
    grid = gridplot([[rps, success], [active, progress]], toolbar_location="right",
                    merge_tools=True)
    return grid, {"rate": rate[1], "users": users[1]}


def _latency(source: ColumnDataSource, dist: ColumnDataSource, hist: ColumnDataSource,
             x_range: DataRange1d) -> tuple[Column, figure]:
    over_time = _figure("Latency percentiles per interval (ms)", "ms", x_range=x_range)
    over_time.width = 2 * WIDTH
    _lines(over_time, source, [(f"{p}_ms", p) for p in ("p50", "p90", "p95", "p99")], "0,0.0")
    dist_fig = figure(title="Latency distribution, whole run (at the end of the run)",
                      x_range=FactorRange(factors=list(DIST_LABELS)), width=WIDTH, height=HEIGHT,
                      tools="save", toolbar_location=None, y_axis_label="ms",
                      y_range=DataRange1d(start=0))
    title_of(dist_fig).text_font_size = "12px"
    dist_fig.vbar(x="label", top="ms", width=0.8, source=dist, color=Category10_10[0])
    dist_fig.text(x="label", y="ms", text="text", source=dist, text_align="center",
                  text_baseline="bottom", text_font_size="10px")
    dist_fig.add_tools(HoverTool(tooltips=[("", "@label: @ms{0,0.000} ms")]))
    hist_fig = figure(title="Latency histogram, whole run", x_axis_type="log", width=WIDTH,
                      height=HEIGHT, tools="save", toolbar_location=None,
                      x_axis_label="ms (log scale)", y_axis_label="responses",
                      y_range=DataRange1d(start=0))
    title_of(hist_fig).text_font_size = "12px"
    hist_fig.quad(left="left", right="right", top="count", bottom=0, source=hist,
                  color=Category10_10[1], line_color="white")
    hist_fig.add_tools(HoverTool(tooltips=[("ms", "@left{0,0.000}–@right{0,0.000}"),
                                           ("responses", "@count{0,0}")]))
    return column(over_time, row(dist_fig, hist_fig)), dist_fig


def _error_figure(title: str, source: ColumnDataSource, columns: tuple[str, ...],
                  x_range: DataRange1d) -> tuple[figure, ErrorLines]:
    fig = _figure(title, "failures/s", x_range=x_range)
    renderers: list[GlyphRenderer[Any]] = [
        fig.line("elapsed_time", col, source=source, line_width=2, visible=False,
                 color=Category10_10[(i + 3) % 10], legend_label=f"slot {i}")
        for i, col in enumerate(columns)]
    fig.legend.location = "top_left"
    fig.legend.click_policy = "hide"
    fig.legend.label_text_font_size = "10px"
    items = [item for item in fig.legend[0].items if isinstance(item, LegendItem)]
    for item in items:
        item.visible = False
    fig.add_tools(HoverTool(renderers=list[DataRenderer](renderers), tooltips=[
        ("elapsed", "@elapsed_time{0.0} s"), ("failures/s", "$y{0,0.0}")]))
    return fig, ErrorLines(renderers, items)


def _table(source: ColumnDataSource, spec: tuple[tuple[str, str, str], ...], width: int,
           height: int = 2 * HEIGHT) -> DataTable:
    columns = [TableColumn(field=f, title=t, formatter=NumberFormatter(format=fmt, nan_format="—"))
               for f, t, fmt in spec]
    return DataTable(source=source, columns=columns, width=width, height=height,
                     index_position=None, sortable=False)


def empty_distribution() -> DataDict:
    """The latency distribution source before the end of a run (no bars)."""
    return {"label": list(DIST_LABELS), "ms": [math.nan] * len(DIST_LABELS),
            "text": [""] * len(DIST_LABELS)}


def build_charts() -> Charts:
    """Sources, figures and tabs of a fresh, empty dashboard."""
    streams = {name: ColumnDataSource({c: [] for c in cols})
               for name, cols in STREAM_COLUMNS.items()}
    dist = ColumnDataSource(empty_distribution())
    hist = ColumnDataSource({"left": [], "right": [], "count": []})
    summary = ColumnDataSource({"metric": [], "value": []})
    overview, targets = _overview(streams["overview"], DataRange1d(start=0))
    latency, dist_fig = _latency(streams["latency"], dist, hist, DataRange1d(start=0))
    errors_x = DataRange1d(start=0)
    by_kind, kinds = _error_figure("Failures per second by kind", streams["errors"],
                                   KIND_COLUMNS, errors_x)
    by_code, codes = _error_figure("Failures per second by HTTP status code", streams["errors"],
                                   CODE_COLUMNS, errors_x)
    summary_table = DataTable(source=summary, width=340, height=2 * HEIGHT, index_position=None,
                              sortable=False, columns=[
                                  TableColumn(field="metric", title="Statistic",
                                              formatter=StringFormatter(font_style="bold")),
                                  TableColumn(field="value", title="Value")])
    timeline = _table(streams["timeline"], TIMELINE, width=2 * WIDTH - 340)
    tabs = Tabs(tabs=[
        TabPanel(child=overview, title="Overview"),
        TabPanel(child=latency, title="Latency"),
        TabPanel(child=column(by_kind, by_code), title="Errors"),
        TabPanel(child=row(summary_table, timeline), title="Summary"),
    ])
    tab_streams: list[tuple[str, ...]] = [("overview",), ("latency",), ("errors",), ("timeline",)]
    return Charts(streams, tab_streams, dist, hist, summary, kinds, codes, dist_fig, targets,
                  tabs)
