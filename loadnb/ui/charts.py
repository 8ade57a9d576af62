"""The Bokeh figures of the live dashboard: tabs Overview, Latency, Errors, Summary, Generator.

Only layout lives here (what is drawn from which column); :mod:`loadnb.ui.dashboard` feeds the
data sources. Each tab has its own sources and x range, so a streamed row repaints only the plots
of the tab on screen (hidden tabs catch up when shown). Time-series columns are named like the
snapshot DataFrame's columns (:data:`loadnb.metrics.snapshot.COLUMNS`).

Only the first tab's charts are in the page at first: the others join it when their tab is first
selected, or all at the end of the first run (:meth:`Charts.attach`), so that a saved notebook
holds every chart. The browser builds a view for every chart in the page, hidden tabs' too, so
this halves the time to the first picture (in headless Chromium with a ready kernel, 5.7 s to
3.2 s on a busy 2-core machine), and the kernel sends half the models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bokeh.layouts import column, row
from bokeh.models import (
    Column,
    ColumnDataSource,
    DataRange1d,
    FactorRange,
    HoverTool,
    LayoutDOM,
    Range1d,
    TabPanel,
    Tabs,
)
from bokeh.models.annotations import LegendItem
from bokeh.models.glyphs import Line as LineGlyph
from bokeh.models.glyphs import Step
from bokeh.models.widgets import Div
from bokeh.models.widgets.tables import DataTable, NumberFormatter, StringFormatter, TableColumn
from bokeh.plotting import figure
from bokeh.transform import dodge

from ..charts import palette
from ..charts.axes import readable_axes
from .figures import (
    HEIGHT,
    STRETCH,
    WIDTH,
    Line,
    anchor_source,
    flow,
    legend_item,
    lines,
    make_figure,
    render,
    title_of,
)
from .panels import (
    GENERATOR_COLUMNS,
    add_markers,
    add_plan,
    empty_events,
    empty_plan,
    empty_stats,
    generator_tab,
    stats_table,
)
from .slots import SlotLines, slot_figure
from .workers_view import WORKER_COLUMNS, WorkerView, worker_view

if TYPE_CHECKING:
    from bokeh.models.sources import DataDict

#: Width of the Summary tab's statistic/value table (the timeline table takes the rest).
SUMMARY_WIDTH = 380
#: Lines per error chart; kinds beyond the last but one share the last line ("other").
ERROR_SLOTS = 6
#: Percentiles of the whole run shown in the latency distribution chart.
DIST_QS: tuple[float, ...] = (50, 75, 90, 95, 99, 99.9, 99.99, 100)
DIST_LABELS: tuple[str, ...] = ("p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max")
#: Snapshot columns drawn in the Overview tab and the Latency tab's time series.
OVERVIEW_COLUMNS: tuple[str, ...] = (
    "elapsed_time", "current_rps", "target_rate", "success_rate", "active_users", "target_users",
    "connected", "progress_percent")
PERCENTILE_NAMES: tuple[str, ...] = ("p50", "p90", "p95", "p99")
LATENCY_COLUMNS: tuple[str, ...] = (
    "elapsed_time", *(f"{p}_ms" for p in PERCENTILE_NAMES),
    *(f"service_{p}_ms" for p in PERCENTILE_NAMES))
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


#: Snapshot columns of the timeline table (Summary tab).
TIMELINE_COLUMNS: tuple[str, ...] = tuple(col for col, _, _ in TIMELINE)
#: Columns of each source that gets one row per snapshot, by name.
STREAM_COLUMNS: dict[str, tuple[str, ...]] = {
    "overview": OVERVIEW_COLUMNS, "latency": LATENCY_COLUMNS, "errors": ERROR_COLUMNS,
    "timeline": TIMELINE_COLUMNS, "generator": GENERATOR_COLUMNS}
#: Columns of every streamed source: those and ``workers`` (a row per interval of a run on Dask).
STREAMED: dict[str, tuple[str, ...]] = {**STREAM_COLUMNS, "workers": WORKER_COLUMNS}
#: Tab titles, in order, and the streamed sources each one shows.
TABS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Overview", ("overview",)), ("Latency", ("latency",)), ("Errors", ("errors",)),
    ("Summary", ("timeline",)), ("Generator", ("generator", "workers")))


@dataclass
class Charts:
    """The dashboard's data sources, figures and the ``Tabs`` layout that holds them.

    ``streams`` maps a name to a streamed source (:data:`STREAMED`); ``tab_streams[i]`` are the
    names of the streamed sources shown in tab ``i``. ``plan`` holds the planned load,
    ``events`` the live-change markers, ``stats`` the per-name table (at the end of a run).
    """

    streams: dict[str, ColumnDataSource]
    tab_streams: list[tuple[str, ...]]
    dist_source: ColumnDataSource
    hist_source: ColumnDataSource
    summary_source: ColumnDataSource
    plan_source: ColumnDataSource
    events_source: ColumnDataSource
    stats_source: ColumnDataSource
    kinds: SlotLines
    codes: SlotLines
    dist_figure: figure
    #: The response-time (or latency) and the service-time figures of the Latency tab.
    latency_figures: tuple[figure, figure]
    #: Legend items of the distribution chart's two bar groups (response/latency, service).
    dist_items: list[LegendItem]
    #: The target lines: ``rate`` (open model) and ``users`` (closed model).
    targets: dict[str, Line]
    #: The dashed plan lines: ``rate`` (on the throughput chart), ``users`` (active users chart).
    plans: dict[str, Line]
    #: The open WebSocket/SSE connections beside the active users (shown once a run has some).
    connected: Line
    #: The Generator tab's per-worker lines (a run on Dask).
    workers: WorkerView
    layout: Tabs
    #: The charts of tabs not in the page yet, by tab index (their panel shows a placeholder).
    unattached: dict[int, LayoutDOM] = field(default_factory=dict)

    def attach(self, index: int | None = None) -> None:
        """Put tab ``index``'s charts (every tab's: None) into the page, if not there yet.

        The panel is replaced, not its child changed: BokehJS rebuilds a ``Tabs`` view's
        children when its ``tabs`` change only."""
        indexes = [i for i in (list(self.unattached) if index is None else [index])
                   if i in self.unattached]
        if not indexes:
            return
        tabs = [panel for panel in self.layout.tabs if isinstance(panel, TabPanel)]
        for i in indexes:
            tabs[i] = TabPanel(child=self.unattached.pop(i), title=tabs[i].title)
        self.layout.tabs = tabs


def _target(fig: figure, source: ColumnDataSource, column: str) -> Line:
    """The load the engine aimed at, as steps: a live change shows as a jump at its interval."""
    glyph = Step(x="elapsed_time", y=column, mode="after", line_width=1.5, line_dash="dotdash",
                 line_color=palette.SERIES[1])
    step = render(fig, glyph, source, "target (live)")
    return step, legend_item(fig, step)


def _connected(fig: figure, source: ColumnDataSource) -> Line:
    """The open message-stream connections (``connected``), hidden until a run has some: a run
    without WebSocket or SSE streams draws the chart as it always did."""
    glyph = LineGlyph(x="elapsed_time", y="connected", line_width=2,
                      line_color=palette.series(5))
    line = render(fig, glyph, source, "connected", visible=False)
    item = legend_item(fig, line)
    item.visible = False
    fig.add_tools(HoverTool(renderers=[line], mode="vline", tooltips=[
        ("elapsed", "@elapsed_time{0.0} s"), ("connected", "@{connected}{0,0}")]))
    return line, item


def _overview(source: ColumnDataSource, plan: ColumnDataSource, events: ColumnDataSource,
              x_range: DataRange1d, anchor: ColumnDataSource,
              ) -> tuple[Column, dict[str, Line], dict[str, Line], Line]:
    rps = make_figure("Throughput (requests/s)", "req/s", x_range=x_range, anchor=anchor)
    lines(rps, source, [("current_rps", "current")], "0,0.0",
          extra=[("target", "@{target_rate}{0,0.0}")])
    rate = _target(rps, source, "target_rate")
    rate_plan = add_plan(rps, plan)
    success = make_figure("Success rate (%)", "%", x_range=x_range,
                          y_range=Range1d(start=0, end=105), anchor=anchor)
    lines(success, source, [("success_rate", "success %")], "0.0")
    active = make_figure("Active users / in flight", "users", x_range=x_range, anchor=anchor)
    lines(active, source, [("active_users", "active")], "0,0",
          extra=[("target", "@{target_users}{0,0}")])
    users = _target(active, source, "target_users")
    users_plan = add_plan(active, plan)
    connected = _connected(active, source)
    progress = make_figure("Progress (%)", "%", x_range=x_range,
                           y_range=Range1d(start=0, end=105), anchor=anchor)
    lines(progress, source, [("progress_percent", "progress %")], "0.0")
    for fig in (rps, success, active, progress):
        add_markers(fig, events, label=fig in (rps, active))
    grid = flow([rps, success], [active, progress])
    return (grid, {"rate": rate, "users": users}, {"rate": rate_plan, "users": users_plan},
            connected)


def _latency(source: ColumnDataSource, dist: ColumnDataSource, hist: ColumnDataSource,
             events: ColumnDataSource, x_range: DataRange1d, anchor: ColumnDataSource,
             ) -> tuple[Column, figure, tuple[figure, figure], list[LegendItem]]:
    y_range = DataRange1d(start=0, only_visible=True)  # shared: one scale for both
    response = make_figure("Latency per interval, ms", "ms", x_range, y_range, anchor=anchor)
    lines(response, source, [(f"{p}_ms", p) for p in PERCENTILE_NAMES], "0,0.0")
    service = make_figure("Service time per interval (from the send), ms", "ms", x_range,
                          y_range, anchor=anchor)
    lines(service, source, [(f"service_{p}_ms", p) for p in PERCENTILE_NAMES], "0,0.0")
    for fig in (response, service):
        add_markers(fig, events)
    dist_fig = figure(title="Latency distribution, whole run (at the end of the run)",
                      x_range=FactorRange(factors=list(DIST_LABELS)), height=HEIGHT, **STRETCH,
                      tools="save", toolbar_location=None, y_axis_label="ms",
                      y_range=DataRange1d(start=0))
    title_of(dist_fig).text_font_size = "12px"
    dist_fig.vbar(x=dodge("label", -0.2, range=dist_fig.x_range), top="ms", width=0.38,
                  source=dist, color=palette.SERIES[0], legend_label="latency")
    dist_fig.vbar(x=dodge("label", 0.2, range=dist_fig.x_range), top="service_ms", width=0.38,
                  source=dist, color=palette.SERIES[2], legend_label="service", alpha=0.8)
    dist_fig.text(x=dodge("label", -0.2, range=dist_fig.x_range), y="ms", text="text",
                  source=dist, text_align="center", text_baseline="bottom",
                  text_font_size="9px")
    dist_fig.legend.location = "top_left"
    dist_fig.legend.orientation = "horizontal"
    dist_fig.legend.label_text_font_size = "10px"
    dist_fig.legend.background_fill_alpha = 0.6
    dist_fig.add_tools(HoverTool(tooltips=[("", "@label: @ms{0,0.000} ms"),
                                           ("service", "@service_ms{0,0.000} ms")]))
    dist_items = [item for item in dist_fig.legend[0].items if isinstance(item, LegendItem)]
    hist_fig = figure(title="Latency histogram, whole run", x_axis_type="log", **STRETCH,
                      height=HEIGHT, tools="save", toolbar_location=None,
                      x_axis_label="ms (log scale)", y_axis_label="responses",
                      y_range=DataRange1d(start=0))
    title_of(hist_fig).text_font_size = "12px"
    hist_fig.quad(left="left", right="right", top="count", bottom=0, source=hist,
                  color=palette.SERIES[1], line_color=palette.PAPER)
    hist_fig.add_tools(HoverTool(tooltips=[("ms", "@left{0,0.000}–@right{0,0.000}"),
                                           ("responses", "@count{0,0}")]))
    readable_axes(dist_fig)
    readable_axes(hist_fig)
    layout = flow([response, service], [dist_fig, hist_fig])
    return layout, dist_fig, (response, service), dist_items


def _table(source: ColumnDataSource, spec: tuple[tuple[str, str, str], ...], width: int,
           height: int = 2 * HEIGHT) -> DataTable:
    columns = [TableColumn(field=f, title=t, formatter=NumberFormatter(format=fmt, nan_format="—"))
               for f, t, fmt in spec]
    return DataTable(source=source, columns=columns, width=width, height=height,
                     index_position=None, sortable=False, sizing_mode="stretch_width")


def empty_distribution() -> DataDict:
    """The latency distribution source before the end of a run (no bars)."""
    nan = [math.nan] * len(DIST_LABELS)
    return {"label": list(DIST_LABELS), "ms": nan, "service_ms": list(nan),
            "text": [""] * len(DIST_LABELS)}


def build_charts() -> Charts:
    """Sources, figures and tabs of a fresh, empty dashboard."""
    streams = {name: ColumnDataSource({c: [] for c in cols}) for name, cols in STREAMED.items()}
    dist = ColumnDataSource(empty_distribution())
    hist = ColumnDataSource({"left": [], "right": [], "count": []})
    summary = ColumnDataSource({"metric": [], "value": []})
    plan, events = ColumnDataSource(empty_plan()), ColumnDataSource(empty_events())
    stats = ColumnDataSource(empty_stats())
    anchor = anchor_source()  # one invisible point, shared by every time-series figure
    overview, targets, plans, connected = _overview(streams["overview"], plan, events,
                                                    DataRange1d(start=0), anchor)
    latency, dist_fig, latency_figs, dist_items = _latency(
        streams["latency"], dist, hist, events, DataRange1d(start=0), anchor)
    errors_x = DataRange1d(start=0)
    by_kind, kinds = slot_figure("Failures per second by kind", "failures/s", streams["errors"],
                                 KIND_COLUMNS, errors_x, anchor)
    by_code, codes = slot_figure("Failures per second by HTTP status code", "failures/s",
                                 streams["errors"], CODE_COLUMNS, errors_x, anchor)
    summary_table = DataTable(source=summary, width=SUMMARY_WIDTH, height=2 * HEIGHT,
                              min_width=SUMMARY_WIDTH,
                              index_position=None, sortable=False, columns=[
                                  TableColumn(field="metric", title="Statistic", width=130,
                                              formatter=StringFormatter(font_style="bold")),
                                  TableColumn(field="value", title="Value", width=250)])
    timeline = _table(streams["timeline"], TIMELINE, width=2 * WIDTH - SUMMARY_WIDTH)
    per_name = stats_table(stats, width=2 * WIDTH, height=HEIGHT - 40)
    generator_x = DataRange1d(start=0)
    health, _ = generator_tab(streams["generator"], events, generator_x, anchor)
    workers = worker_view(streams["workers"], events, generator_x, anchor)
    generator = column(health, workers.box, sizing_mode="stretch_width")
    errors = flow([by_kind], [by_code])
    tables = row(summary_table, timeline, sizing_mode="stretch_width",
                 styles={"flex-wrap": "wrap"})
    children: dict[str, LayoutDOM] = {
        "Overview": overview, "Latency": latency, "Errors": errors,
        "Summary": column(tables, per_name, sizing_mode="stretch_width"), "Generator": generator}
    later = {i: children[title] for i, (title, _) in enumerate(TABS) if i > 0}
    tabs = Tabs(tabs=[TabPanel(child=Div() if i in later else children[title], title=title)
                      for i, (title, _) in enumerate(TABS)], sizing_mode="stretch_width")
    return Charts(streams, [names for _, names in TABS], dist, hist, summary, plan, events, stats,
                  kinds, codes, dist_fig, latency_figs, dist_items, targets, plans, connected,
                  workers, tabs, later)


__all__ = ["CODE_COLUMNS", "DIST_LABELS", "DIST_QS", "ERROR_COLUMNS", "ERROR_SLOTS", "KIND_COLUMNS",
           "LATENCY_COLUMNS", "OVERVIEW_COLUMNS", "PERCENTILE_NAMES", "STREAMED", "STREAM_COLUMNS",
           "SUMMARY_WIDTH", "TABS", "TIMELINE", "TIMELINE_COLUMNS", "Charts",
           "build_charts", "empty_distribution"]
