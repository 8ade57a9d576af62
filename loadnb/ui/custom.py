"""The dashboard's Custom tab: one small chart per custom metric of the run.

The tab is added to the dashboard's ``Tabs`` when a run's first custom metric arrives (a run
without custom metrics never shows it) and removed when a new run starts. Each metric gets its own
source and figure the first time it appears: a counter's per-interval total, a gauge's last value,
a timing's p50/p95/p99 in ms. Rows come from the run record's ``custom_timeline`` (one per interval
and metric updated in it; :data:`loadnb.metrics.custom.CUSTOM_TIMELINE_COLUMNS`), streamed with the
dashboard's rollover while the tab is on screen, buffered (bounded) while it is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bokeh.layouts import column, row
from bokeh.models import Column, ColumnDataSource, DataRange1d, Row, TabPanel, Tabs
from bokeh.models.widgets.markups import Div

from ..metrics.custom import CUSTOM_TIMELINE_COLUMNS
from .figures import WIDTH, anchor_source, lines, make_figure

if TYPE_CHECKING:
    from bokeh.models.sources import DataDict

#: Title of the tab.
CUSTOM_TAB = "Custom"
#: Metrics drawn (one chart each); more are listed in a note (all are in ``Result.custom``).
MAX_CHARTS = 24
#: Charts per row.
PER_ROW = 2
#: Height of one chart.
CHART_HEIGHT = 200
#: Per kind: the columns drawn, as (timeline column, legend label), and the y-axis label.
SERIES: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "counter": ((("total", "per interval"),), "total"),
    "gauge": ((("last", "last"),), "value"),
    "timing": ((("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")), "ms"),
}
_INDEX = {col: i for i, col in enumerate(CUSTOM_TIMELINE_COLUMNS)}


def _title(name: str, kind: str) -> str:
    what = {"counter": "total per interval", "gauge": "last value",
            "timing": "p50 / p95 / p99, ms"}.get(kind, kind)
    return f"{name} ({kind}: {what})"


class CustomTab:
    """The Custom tab of a dashboard's ``tabs`` (see the module docstring).

    Example::

        custom = CustomTab(dashboard.layout, rollover=2000)
        custom.add(run.record.custom_timeline[seen:])   # after every snapshot
    """

    #: the tab's title
    title = CUSTOM_TAB
    #: what the note on metrics not drawn calls them, and where it points to
    what, where = "custom metric", "result.custom"

    def __init__(self, tabs: Tabs, rollover: int) -> None:
        self.tabs, self.rollover = tabs, rollover
        self.sources: dict[str, ColumnDataSource] = {}
        self.kinds: dict[str, str] = {}
        self.panel: TabPanel | None = None
        self._grid: Column | None = None
        self._note: Div | None = None
        self._skipped: set[str] = set()
        self._pending: dict[str, DataDict] = {}
        self._x_range = DataRange1d(start=0)
        self._anchor = anchor_source()

    def _index(self) -> int | None:
        """The tab's index in the dashboard, None when it is not there."""
        for i, tab in enumerate(self.tabs.tabs):
            if self.panel is not None and tab is self.panel:
                return i
        return None

    def _panels(self) -> list[TabPanel]:
        return [t for t in self.tabs.tabs if isinstance(t, TabPanel)]

    @property
    def shown(self) -> bool:
        """Whether the tab is in the dashboard (the run has custom metrics)."""
        return self._index() is not None

    @property
    def on_screen(self) -> bool:
        """Whether the Custom tab is the selected one."""
        index = self._index()
        return index is not None and self.tabs.active == index

    def reset(self) -> None:
        """Remove the tab and every chart (a new run starts)."""
        index = self._index()
        if index is not None:
            if self.tabs.active >= index:
                self.tabs.active = 0
            self.tabs.tabs = [t for t in self._panels() if t is not self.panel]
        self.panel = self._grid = self._note = None
        self.sources, self.kinds = {}, {}
        self._skipped, self._pending = set(), {}

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        """Timeline rows of the intervals closed since the last call: one point per row on its
        metric's chart (charts and the tab made on first use)."""
        for r in rows:
            name, kind = str(r[_INDEX["metric"]]), str(r[_INDEX["kind"]])
            source = self.sources.get(name)
            if source is None:
                if name in self._skipped or kind not in SERIES:
                    continue
                if len(self.sources) >= MAX_CHARTS:
                    self._skip(name)
                    continue
                source = self._chart(name, kind)
            data: DataDict = {"elapsed_time": [float(r[_INDEX["elapsed_time"]])]}
            for col, _ in SERIES[kind][0]:
                data[col] = [float(r[_INDEX[col]])]
            self._push(name, data)

    def flush(self) -> None:
        """Send every buffered row (the tab was selected, or the run ended)."""
        pending, self._pending = self._pending, {}
        for name, data in pending.items():
            self.sources[name].stream(data, rollover=self.rollover)

    # -- internals -------------------------------------------------------------------------
    def _push(self, name: str, data: DataDict) -> None:
        if self.on_screen and name not in self._pending:
            self.sources[name].stream(data, rollover=self.rollover)
            return
        pending = self._pending.setdefault(name, {col: [] for col in data})
        for col, values in data.items():
            column_ = pending[col]
            assert isinstance(column_, list)
            column_.extend(values)
            if len(column_) > self.rollover:
                del column_[:-self.rollover]

    def _chart(self, name: str, kind: str) -> ColumnDataSource:
        series, y_label = SERIES[kind]
        source = ColumnDataSource({"elapsed_time": [], **{col: [] for col, _ in series}})
        fig = make_figure(self.chart_title(name, kind), y_label, x_range=self._x_range,
                          anchor=self._anchor)
        fig.height = CHART_HEIGHT
        lines(fig, source, list(series), "0,0.00")
        self.sources[name], self.kinds[name] = source, kind
        grid = self._ensure_tab()
        rows = list(grid.children)
        last = rows[-1] if rows else None
        if isinstance(last, Row) and len(last.children) < PER_ROW:
            last.children = [*last.children, fig]
        else:
            grid.children = [*rows, row(fig, sizing_mode="stretch_width",
                                         styles={"flex-wrap": "wrap"})]
        return source

    def chart_title(self, name: str, kind: str) -> str:
        """The title of ``name``'s chart."""
        return _title(name, kind)

    def _skip(self, name: str) -> None:
        self._skipped.add(name)
        text = (f"{len(self._skipped):,} more {self.what}(s) not drawn (at most "
                f"{MAX_CHARTS} charts): see <code>{self.where}</code>.")
        if self._note is None:
            self._note = Div(text=text, width=2 * WIDTH, sizing_mode="stretch_width")
            panel = self.panel
            assert panel is not None and isinstance(panel.child, Column)
            panel.child.children = [*panel.child.children, self._note]
        else:
            self._note.text = text

    def _ensure_tab(self) -> Column:
        if self._grid is None:
            self._grid = column(sizing_mode="stretch_width")
            self.panel = TabPanel(child=column(self._grid, sizing_mode="stretch_width"),
                                  title=self.title)
        assert self.panel is not None
        if not self.shown:
            self.tabs.tabs = [*self._panels(), self.panel]
        return self._grid


__all__ = ["CUSTOM_TAB", "MAX_CHARTS", "CustomTab"]
