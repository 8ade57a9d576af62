"""Feeds a run into the dashboard's Bokeh sources: one streamed row per snapshot, totals at the end.

Before a run, :meth:`Dashboard.show_spec` draws the planned load (and labels the latency charts
for the load model); during it, every snapshot with an ``event`` (a live change) adds a marker.

Every snapshot becomes exactly one row of each streamed source (:attr:`Charts.streams`), sent with
``ColumnDataSource.stream(..., rollover=N)``: the page keeps at most ``N`` points per series, so
an hour-long run stays smooth. Streams are plain lists (numpy arrays cost twice as much).

Only the sources of the tab on screen are streamed as snapshots arrive; rows for hidden tabs wait
in a buffer (bounded by the rollover too) and are sent in one batch when their tab is selected or
the run ends. Painting hidden plots was most of the browser's work (measured in headless
Chromium: about 3.8 s of main-thread time per 8 s run with every tab live, 1.1 s like this).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from bokeh.core.properties import value

from ..charts.axes import drawn_rate
from ..metrics.histogram import GROWTH, Histogram
from ..metrics.snapshot import Snapshot
from ..record.summary import QUANTILE_KEYS, Summary
from ..results.result import Result
from ..results.words import load_text
from ..spec.config import LoadSpec
from ..text.numbers import fixed, percent
from .charts import (
    CODE_COLUMNS,
    DIST_LABELS,
    DIST_QS,
    KIND_COLUMNS,
    STREAM_COLUMNS,
    STREAMED,
    build_charts,
    empty_distribution,
)
from .custom import CustomTab
from .figures import title_of
from .history_tab import CompareOverlay
from .panels import empty_events, empty_stats, latency_titles, plan_data, stats_data
from .server_tab import ServerTab

if TYPE_CHECKING:
    from bokeh.models.sources import DataDict

#: Points kept per series in the page (and in the kernel-side sources).
ROLLOVER = 2000
#: Bars of the latency histogram (log-spaced).
HIST_BARS = 40
#: Index of the Summary tab (its table is only refreshed while it is on screen).
SUMMARY_TAB = 3


def _kind_label(kind: str) -> str:
    """The error chart label: ``HTTP 503`` → ``HTTP 5xx``; other kinds as they are."""
    if kind.startswith("HTTP ") and kind[5:].isdigit():
        return f"HTTP {kind[5]}xx"
    return kind


def histogram_bars(hist: Histogram, bars: int = HIST_BARS) -> DataDict:
    """The run's latency histogram regrouped into at most ``bars`` log-spaced bars (ms)."""
    nonzero = np.flatnonzero(hist.counts)
    if nonzero.size == 0:
        return {"left": [], "right": [], "count": []}
    lo, hi = int(nonzero[0]), int(nonzero[-1]) + 1
    step = max(1, math.ceil((hi - lo) / bars))
    left: list[float] = []
    right: list[float] = []
    count: list[float] = []
    for start in range(lo, hi, step):
        n = int(hist.counts[start:start + step].sum())
        if n:
            left.append(GROWTH ** start / 1e3)
            right.append(GROWTH ** (start + step) / 1e3)
            count.append(float(n))
    return {"left": left, "right": right, "count": count}


class Dashboard:
    """The live Bokeh dashboard of a :class:`~loadnb.ui.LoadTest` (put ``layout`` on the page).

    Example::

        dash = Dashboard()
        run.subscribe(dash.update)      # one row per snapshot in every streamed source
        ...
        dash.finish(run.result)         # flush, distribution and summary table of the whole run
    """

    def __init__(self, rollover: int = ROLLOVER) -> None:
        self.rollover = rollover
        self.charts = build_charts()
        self.layout = self.charts.layout
        self._pending: dict[str, DataDict] = {}
        self._summary_rows: list[tuple[str, str]] = []
        self._interval = 0.5
        self._last_elapsed = 0.0
        self._last_seconds = 0.0
        self._min_success = math.nan
        self._max_active = 0
        #: The Custom tab (added when the run's first custom metric arrives).
        self.custom = CustomTab(self.layout, rollover)
        #: The Server tab (added when the run's first scraped or watched value arrives).
        self.server = ServerTab(self.layout, rollover)
        #: A past run drawn over the Overview and Latency charts (History tab's compare); a
        #: new run keeps it.
        self.compare = CompareOverlay(self.charts)
        self.layout.on_change("active", self._tab_selected)

    @property
    def sources(self) -> dict[str, Any]:
        """The sources that get one row per snapshot, by name (``overview``, ``latency``,
        ``errors``, ``timeline``, ``generator``); the per-worker one is ``charts.workers``'."""
        return {name: self.charts.streams[name] for name in STREAM_COLUMNS}

    def rows(self) -> dict[str, int]:
        """Rows per source of :attr:`sources`, counting rows still buffered for hidden tabs."""
        out = {}
        for name, source in self.sources.items():
            pending = self._pending.get(name, {}).get("elapsed_time", [])
            out[name] = min(self.rollover, len(source.data["elapsed_time"]) + len(pending))
        return out

    def show_spec(self, spec: LoadSpec) -> None:
        """Draw ``spec``'s planned load and show the lines and labels of its load model."""
        c = self.charts
        plan = plan_data(spec)
        if c.plan_source.data != plan:
            c.plan_source.data = plan
        for lines in (c.targets, c.plans):
            for name, (line, item) in lines.items():
                show = (name == "rate") == (spec.rate is not None)
                if line.visible != show:
                    line.visible = item.visible = show
        response, service, label = latency_titles(spec)
        for fig, text in zip(c.latency_figures, (response, service), strict=True):
            if title_of(fig).text != text:
                title_of(fig).text = text
        if c.dist_items[0].label != value(label):
            c.dist_items[0].label = value(label)

    def reset(self, spec: LoadSpec) -> None:
        """Empty every chart for a new run of ``spec`` (and draw its plan)."""
        c = self.charts
        self._pending = {}
        for name, source in c.streams.items():
            if len(source.data["elapsed_time"]):
                source.data = {col: [] for col in STREAMED[name]}
        if len(c.hist_source.data["left"]):
            c.hist_source.data = {"left": [], "right": [], "count": []}
        if len(c.events_source.data["event"]):
            c.events_source.data = empty_events()
        if len(c.stats_source.data["name"]):
            c.stats_source.data = empty_stats()
        c.dist_source.data = empty_distribution()
        self.show_spec(spec)
        title_of(c.dist_figure).text = "Latency distribution, whole run (at the end of the run)"
        c.kinds.clear()
        c.codes.clear()
        self._show_connected(False)
        c.workers.clear()
        self.custom.reset()
        self.server.reset()
        self._interval = spec.interval
        self._last_elapsed = self._last_seconds = 0.0
        self._min_success, self._max_active = math.nan, 0
        load, length = load_text(spec)
        self._set_summary([("Target", spec.target), ("Load", load), ("Length", length),
                           ("State", "starting")], force=True)

    def update(self, snap: Snapshot) -> None:
        """One snapshot: one row for every streamed source, the live summary table. The
        throughput chart leaves out the final, partial interval's rate
        (:func:`loadnb.charts.axes.drawn_rate`); the timeline table shows it."""
        c = self.charts
        seconds = snap.elapsed_time - self._last_elapsed
        rps = drawn_rate(snap.current_rps, seconds, self._last_seconds, snap.phase)
        for name, columns in STREAM_COLUMNS.items():
            if name != "errors":
                row: DataDict = {col: [getattr(snap, col)] for col in columns}
                if name == "overview":
                    row["current_rps"] = [rps]
                self._push(name, row)
        dt = max(seconds, self._interval / 2)
        self._last_elapsed, self._last_seconds = snap.elapsed_time, seconds
        kinds = [0.0] * len(KIND_COLUMNS)
        codes = [0.0] * len(CODE_COLUMNS)
        for kind, n in snap.interval_errors.items():
            kinds[c.kinds.slot(_kind_label(kind))] += n / dt
            if kind.startswith("HTTP ") and kind[5:].isdigit():
                codes[c.codes.slot(kind[5:])] += n / dt
        row = {"elapsed_time": [snap.elapsed_time]}
        row.update({col: [v] for col, v in zip(KIND_COLUMNS, kinds, strict=True)})
        row.update({col: [v] for col, v in zip(CODE_COLUMNS, codes, strict=True)})
        self._push("errors", row)
        if snap.connected:
            self._show_connected(True)
        if snap.event:  # a live change: a marker on every time-series chart (sent at once)
            c.events_source.stream({"event_time": [snap.elapsed_time], "event": [snap.event]})
        if not math.isnan(snap.success_rate):
            self._min_success = (snap.success_rate if math.isnan(self._min_success)
                                 else min(self._min_success, snap.success_rate))
        self._max_active = max(self._max_active, snap.active_users)
        self._set_summary(self._live_rows(snap))

    def update_custom(self, rows: Sequence[Sequence[Any]]) -> None:
        """Custom-metric timeline rows of the intervals closed since the last call (the run
        record's ``custom_timeline``): one point each on its metric's chart, Custom tab."""
        if rows:
            self.custom.add(rows)

    def update_extras(self, custom_rows: Sequence[Sequence[Any]],
                      server_rows: Sequence[tuple[float, str, float]],
                      workers: Sequence[Sequence[Any]] = ()) -> None:
        """An update's custom-metric rows (Custom tab), the target's values (Server tab) and
        each worker process's row (Generator tab, a run on Dask)."""
        self.update_custom(custom_rows)
        if server_rows:
            self.server.add_server(server_rows)
        if workers:
            self._push("workers", self.charts.workers.row(workers))

    def flush(self, tab: int | None = None) -> None:
        """Send buffered rows (and the summary table) of tab ``tab``, or of every tab."""
        if tab is None:
            self.custom.flush()
            self.server.flush()
        tabs = range(len(self.charts.tab_streams)) if tab is None else [tab]
        for index in tabs:
            for name in self.charts.tab_streams[index]:
                pending = self._pending.pop(name, None)
                if pending:
                    self.charts.streams[name].stream(pending, rollover=self.rollover)
            if index == SUMMARY_TAB:
                self._set_summary(self._summary_rows, force=True)

    def finish(self, result: Result) -> None:
        """Whole-run charts and the summary table, once the run has ended."""
        c = self.charts
        hist = result.overall.latency
        values = [v * 1e3 for v in hist.percentiles(DIST_QS)]
        service = [v * 1e3 for v in result.overall.service.percentiles(DIST_QS)]
        c.dist_source.data = {
            "label": list(DIST_LABELS),
            "ms": values,
            "service_ms": service,
            "text": ["" if math.isnan(v) else f"{v:,.1f}" for v in values]}
        title_of(c.dist_figure).text = (f"Latency percentiles, whole run "
                                        f"({hist.total:,} responses, ms)")
        c.hist_source.data = histogram_bars(hist)
        c.stats_source.data = stats_data(result.stats)
        c.attach()  # every tab in the page: a saved notebook holds every chart
        self.flush()
        self._set_summary(self._final_rows(result.summary, result.spec), force=True)

    # -- internals -------------------------------------------------------------------------
    def _show_connected(self, show: bool) -> None:
        """Show (a run with open WebSocket/SSE connections) or hide the ``connected`` line."""
        line, item = self.charts.connected
        if line.visible != show:
            line.visible = item.visible = show

    def _visible(self, name: str) -> bool:
        active = self.layout.active
        return active < len(self.charts.tab_streams) and name in self.charts.tab_streams[active]

    def _push(self, name: str, row: DataDict) -> None:
        if self._visible(name) and name not in self._pending:
            self.charts.streams[name].stream(row, rollover=self.rollover)
            return
        pending = self._pending.setdefault(name, {col: [] for col in row})
        for col, values in row.items():
            column = pending[col]
            assert isinstance(column, list)
            column.extend(values)
            if len(column) > self.rollover:
                del column[:-self.rollover]

    def _tab_selected(self, attr: str, old: Any, new: Any) -> None:
        if isinstance(new, int) and 0 <= new < len(self.charts.tab_streams):
            self.charts.attach(new)
            self.flush(new)
        elif self.custom.on_screen:
            self.custom.flush()
        elif self.server.on_screen:
            self.server.flush()

    # -- summary table ---------------------------------------------------------------------
    def _set_summary(self, rows: list[tuple[str, str]], *, force: bool = False) -> None:
        """Keep ``rows``; send them now if the Summary tab is on screen (or ``force``)."""
        self._summary_rows = rows
        if force or self.layout.active == SUMMARY_TAB:
            self.charts.summary_source.data = {"metric": [r[0] for r in rows],
                                               "value": [r[1] for r in rows]}

    def _live_rows(self, s: Snapshot) -> list[tuple[str, str]]:
        answered = s.completed_requests + s.failed_requests
        avg = answered / s.elapsed_time if s.elapsed_time > 0 else math.nan
        return [
            ("State", s.phase), ("Elapsed", f"{s.elapsed_time:.1f} s"),
            ("Progress", f"{s.progress_percent:.1f}%"),
            ("Requests", f"{answered + s.cancelled_requests:,}"),
            ("Completed", f"{s.completed_requests:,}"), ("Failed", f"{s.failed_requests:,}"),
            ("Success rate", percent(s.success_rate)),
            ("Current RPS", fixed(s.current_rps, 1)), ("Avg RPS", fixed(avg, 1)),
            ("Max RPS", fixed(s.peak_rps, 1)),
            ("Min success rate", percent(self._min_success)),
            ("Max active users", f"{self._max_active:,}"),
            ("Target load now", (f"{s.target_users:,} users" if math.isnan(s.target_rate)
                                 else f"{fixed(s.target_rate, 1)} req/s")),
            ("p50 / p99 (interval)", f"{fixed(s.p50_ms, 1)} / {fixed(s.p99_ms, 1)} ms"),
            ("service p50 / p99", (f"{fixed(s.service_p50_ms, 1)} / "
                                   f"{fixed(s.service_p99_ms, 1)} ms")),
        ]

    def _final_rows(self, summary: Summary, spec: LoadSpec) -> list[tuple[str, str]]:
        lat = summary["latency_ms"]
        rows = [
            ("State", summary["state"]), ("Target", spec.target),
            ("Load", load_text(spec)[0]), ("Duration", f"{summary['duration_s']:.2f} s"),
            ("Requests", f"{summary['total_requests']:,}"),
            ("Completed", f"{summary['completed_requests']:,}"),
            ("Failed", f"{summary['failed_requests']:,}"),
            ("Cancelled", f"{summary['cancelled_requests']:,}"),
            ("Success rate", percent(summary["success_rate"])),
            ("Avg RPS", fixed(summary["avg_rps"], 1)),
            ("Max RPS", fixed(summary["peak_rps"], 1)),
            ("Min success rate", percent(self._min_success)),
            ("Max active users", f"{self._max_active:,}"),
        ]
        rows.append(("Latency is", summary["latency_basis"]))
        rows += [(f"Latency {k}", f"{fixed(lat[k], 2)} ms") for k in QUANTILE_KEYS]
        service = summary["service_ms"]
        rows += [(f"Service {k}", f"{fixed(service[k], 2)} ms") for k in ("p50", "p99")]
        rows += [("Bytes received", f"{summary['bytes_received']:,}"),
                 ("Transport", summary["transport"])]
        if summary["dropped_arrivals"]:
            rows.append(("Dropped arrivals", f"{summary['dropped_arrivals']:,}"))
        return rows


__all__ = ["HIST_BARS", "ROLLOVER", "SUMMARY_TAB", "Dashboard", "histogram_bars"]
