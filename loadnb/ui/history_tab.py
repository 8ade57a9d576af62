"""The widget's History tab: past runs of the same target, and one of them drawn on the live charts.

The tab lists the newest :data:`LIMIT` runs of the widget's target from the run history
(:func:`loadnb.history.reader.list_runs`): started at, state, model, duration, requests, success
rate, rps, p95, p99. It is read when the tab is shown and again at the end of each run (once it
has been shown): a widget whose History tab is never opened never reads the database.

"Compare with" overlays a chosen run on the live charts (:class:`CompareOverlay`): its RPS on the
Overview's throughput chart and its p99 (dashed) and p50 (dotted) on the Latency tab's response
time chart, in a muted colour, with the legend entry ``compare: <run id> (<started at>)``. The
overlay stays when a new run starts (so the live run is seen against its baseline) and goes with
"Clear". Reading errors are shown in the tab, never raised into the kernel.

Example::

    tab = HistoryTab(dashboard.compare, lambda: spec)
    views = tab.wrap(chart)            # an ipywidgets Tab: the dashboard, History
    tab.refresh()                      # what showing the tab does
    tab.compare(tab.runs[0]["run_id"])
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W
from bokeh.core.properties import value
from bokeh.models import Column, ColumnDataSource, Row, TabPanel
from bokeh.models.glyphs import Line as LineGlyph
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from ..charts import palette
from ..charts.axes import drawn_rates
from ..history.reader import list_runs, load
from ..history.store import redact_query, resolve_path
from ..spec.config import LoadSpec
from ..text.numbers import fixed, percent
from .charts import Charts
from .figures import legend_item, render
from .formatting import html_line

if TYPE_CHECKING:
    import pandas as pd

#: Title of the tab (the other one, the live dashboard, is :data:`DASHBOARD_TAB`).
HISTORY_TAB = "History"
DASHBOARD_TAB = "Dashboard"
#: Runs listed (newest first).
LIMIT = 20
#: Columns of the overlay sources, from the compared run's ``df``.
OVERVIEW_COMPARE: tuple[str, ...] = ("elapsed_time", "current_rps")
LATENCY_COMPARE: tuple[str, ...] = ("elapsed_time", "p50_ms", "p99_ms")
OFF_TEXT = ("The history is off (LOADNB_HISTORY=off or history=\"off\"): past runs are not kept, "
            "so there is nothing to list or compare.")
_COLORS = palette.LEVELS
#: Columns of the runs table: (listing key, title).
TABLE: tuple[tuple[str, str], ...] = (
    ("run_id", "Run"), ("started_at", "Started at"), ("state", "State"), ("model", "Model"),
    ("duration_s", "Duration s"), ("requests", "Requests"), ("success_rate", "Success"),
    ("rps", "req/s"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"))


def started_text(iso: str | float) -> str:
    """A run's start as local ``YYYY-MM-DD HH:MM:SS`` (from the listing's ISO text or epoch s)."""
    when = (datetime.fromtimestamp(iso) if isinstance(iso, float | int)
            else datetime.fromisoformat(iso).astimezone())
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _cell(key: str, run: dict[str, Any]) -> str:
    v = run.get(key)
    if key == "started_at":
        return started_text(str(v))
    if key == "success_rate":
        return percent(None if v is None else float(v))
    if key == "requests":
        return fixed(None if v is None else float(v), 0)
    if key in ("duration_s", "rps", "p95_ms", "p99_ms"):
        return fixed(None if v is None else float(v), 1 if key != "duration_s" else 2)
    return "" if v is None else str(v)


def runs_html(runs: list[dict[str, Any]]) -> str:
    """The runs table (HTML, every value escaped)."""
    if not runs:
        return ""
    style = "padding:2px 8px;text-align:right;font-family:monospace;font-size:12px"
    head = "".join(f"<th style='{style}'>{html.escape(t)}</th>" for _, t in TABLE)
    body = "".join(
        "<tr>" + "".join(f"<td style='{style}'>{html.escape(_cell(k, r))}</td>" for k, _ in TABLE)
        + "</tr>" for r in runs)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _option(run: dict[str, Any]) -> str:
    return (f"{run['run_id']}  {started_text(str(run['started_at']))}  {run['state']}  "
            f"{fixed(None if run['rps'] is None else float(run['rps']), 1)} req/s")


def _throughput_figure(charts: Charts) -> figure:
    """The Overview tab's throughput chart (top left of its grid)."""
    panel = charts.layout.tabs[0]
    assert isinstance(panel, TabPanel) and isinstance(panel.child, Column)
    first = panel.child.children[0] if panel.child.children else None
    if isinstance(first, Row) and first.children and isinstance(first.children[0], figure):
        return first.children[0]
    raise LookupError("the Overview tab has no throughput chart")


def _floats(frame: pd.DataFrame, column: str) -> list[float]:
    return [float(v) for v in frame[column].tolist()]


class CompareOverlay:
    """A past run drawn over the live charts: dashed RPS (Overview) and p99 / dotted p50
    (Latency), hidden until :meth:`show`; :meth:`clear` hides it again.

    ``sources["overview"]`` (elapsed_time, current_rps) and ``sources["latency"]``
    (elapsed_time, p50_ms, p99_ms) hold the compared run's ``df`` rows.
    """

    def __init__(self, charts: Charts) -> None:
        self.sources = {"overview": ColumnDataSource({c: [] for c in OVERVIEW_COMPARE}),
                        "latency": ColumnDataSource({c: [] for c in LATENCY_COMPARE})}
        rps, response = _throughput_figure(charts), charts.latency_figures[0]

        def line(fig: figure, source: str, column: str, dash: str,
                 label: str | None) -> GlyphRenderer[Any]:
            glyph = LineGlyph(x="elapsed_time", y=column, line_width=2, line_dash=dash,
                              line_color=palette.COMPARE, line_alpha=0.9)
            return render(fig, glyph, self.sources[source], label, visible=False)

        self.renderers = [line(rps, "overview", "current_rps", "dashed", "compare"),
                          line(response, "latency", "p99_ms", "dashed", "compare"),
                          line(response, "latency", "p50_ms", "dotted", None)]
        self.items = [legend_item(rps, self.renderers[0]),
                      legend_item(response, self.renderers[1])]
        self.items[1].renderers = [self.renderers[1], self.renderers[2]]
        for item in self.items:
            item.visible = False
        #: The compared run's id and its legend label (None / "" when nothing is overlaid).
        self.run_id: str | None = None
        self.label = ""

    @property
    def active(self) -> bool:
        """Whether a run is overlaid."""
        return self.run_id is not None

    def show(self, frame: pd.DataFrame, run_id: str, started: str) -> None:
        """Draw the run whose snapshots are ``frame`` (its ``df``), labelled with its id and
        start."""
        elapsed = _floats(frame, "elapsed_time")
        self.sources["overview"].data = {"elapsed_time": elapsed, "current_rps": drawn_rates(
            elapsed, _floats(frame, "current_rps"), frame["phase"].astype(str).tolist())}
        self.sources["latency"].data = {c: _floats(frame, c) for c in LATENCY_COMPARE}
        self.run_id, self.label = run_id, f"compare: {run_id} ({started})"
        for item in self.items:
            item.label = value(self.label)
            item.visible = True
        for renderer in self.renderers:
            renderer.visible = True

    def clear(self) -> None:
        """Remove the overlay."""
        for renderer in self.renderers:
            renderer.visible = False
        for item in self.items:
            item.visible = False
        for name, columns in (("overview", OVERVIEW_COMPARE), ("latency", LATENCY_COMPARE)):
            if len(self.sources[name].data["elapsed_time"]):
                self.sources[name].data = {c: [] for c in columns}
        self.run_id, self.label = None, ""


class HistoryTab:
    """The History tab of a :class:`~loadnb.ui.LoadTest` (see the module docstring).

    ``spec_of`` gives the spec whose target and ``history`` the tab lists (the form's).
    """

    def __init__(self, overlay: CompareOverlay, spec_of: Callable[[], LoadSpec],
                 limit: int = LIMIT) -> None:
        self.overlay, self.spec_of, self.limit = overlay, spec_of, limit
        self.message = W.HTML(html_line("Past runs of this target are listed when this tab is "
                                        "shown.", color=_COLORS["info"]))
        self.table = W.HTML()
        self.choice = W.Dropdown(options=[], description="Compare with",
                                 style={"description_width": "100px"},
                                 layout=W.Layout(width="520px"))
        self.compare_button = W.Button(description="Compare", icon="clone", disabled=True,
                                       tooltip="Draw the chosen run (dashed) over the Overview "
                                               "and Latency charts")
        self.clear_button = W.Button(description="Clear", icon="times", disabled=True,
                                     tooltip="Remove the compared run from the charts")
        self.compare_status = W.HTML()
        self.controls = W.HBox([self.choice, self.compare_button, self.clear_button])
        self.box = W.VBox([self.message, self.table, self.controls, self.compare_status])
        #: The runs listed, newest first (plain dicts of ``list_runs``).
        self.runs: list[dict[str, Any]] = []
        #: Times the history was read (listing or loading a run).
        self.reads = 0
        self.tabs: W.Tab | None = None
        self.compare_button.on_click(lambda _b: self.compare())
        self.clear_button.on_click(lambda _b: self.clear())

    def wrap(self, dashboard: W.Widget) -> W.Tab:
        """An ipywidgets ``Tab``: ``dashboard`` (the live charts), then this tab."""
        tabs = W.Tab(children=[dashboard, self.box], titles=(DASHBOARD_TAB, HISTORY_TAB))
        tabs.observe(self._selected, names="selected_index")
        self.tabs = tabs
        return tabs

    @property
    def loaded(self) -> bool:
        """Whether the history has been read (the tab was shown or compare was used)."""
        return self.reads > 0

    @property
    def on_screen(self) -> bool:
        return self.tabs is not None and self.tabs.selected_index == 1

    def _where(self) -> tuple[LoadSpec, Path | None]:
        spec = self.spec_of()
        return spec, resolve_path(spec.history)

    def _off(self) -> None:
        self.message.value = html_line(OFF_TEXT, color=_COLORS["info"])
        self.table.value = ""
        self.controls.layout.display = "none"
        self.compare_button.disabled = True

    def _selected(self, change: dict[str, Any]) -> None:
        if change.get("new") == 1:
            self.refresh()

    def run_ended(self) -> None:
        """A run ended: list again if the tab was ever read (never raises)."""
        if self.loaded or self.on_screen:
            self.refresh()

    def refresh(self) -> None:
        """Read the runs of the target again (errors are shown in the tab, never raised)."""
        try:
            spec, where = self._where()
            if where is None:
                self._off()
                return
            target = redact_query(spec.target)
            self.reads += 1
            runs = [r for r in list_runs(where, target=target, limit=4 * self.limit)
                    if r["target"] == target][:self.limit]
        except Exception as exc:  # noqa: BLE001 - shown in the tab, not raised into the kernel
            self.message.value = html_line(f"⚠ Reading the history failed: {type(exc).__name__}:"
                                           f" {exc}", color=_COLORS["error"])
            return
        self.runs = runs
        self.controls.layout.display = None
        self.table.value = runs_html(runs)
        if runs:
            text = (f"{len(runs)} run(s) of {target}, newest first (at most {self.limit}; "
                    f"history: {where})")
        else:
            text = f"No run of {target} in the history yet (history: {where})."
        self.message.value = html_line(text, color=_COLORS["info"])
        keep = self.choice.value
        options = [(_option(r), str(r["run_id"])) for r in runs]
        self.choice.options = options
        ids = [run_id for _, run_id in options]
        if keep in ids:
            self.choice.value = keep
        self.compare_button.disabled = not runs

    def compare(self, run_id: str | None = None) -> bool:
        """Overlay ``run_id`` (default: the run chosen in the dropdown) on the live charts;
        whether it was drawn (errors are shown in the tab, never raised)."""
        try:
            _, where = self._where()
            if where is None:
                self._off()
                return False
            if run_id is None and not self.loaded:
                self.refresh()
            ref = run_id if run_id is not None else self.choice.value
            if not ref:
                self.compare_status.value = html_line("No run to compare with.",
                                                      color=_COLORS["info"])
                return False
            self.reads += 1
            result = load(str(ref), where)
            self.overlay.show(result.df, result.run_id, started_text(float(result.started_at)))
        except Exception as exc:  # noqa: BLE001 - shown in the tab, not raised into the kernel
            self.compare_status.value = html_line(
                f"⚠ Comparing failed: {type(exc).__name__}: {exc}", color=_COLORS["error"])
            return False
        rows = len(self.overlay.sources["overview"].data["elapsed_time"])
        self.compare_status.value = html_line(
            f"Drawn on the Overview and Latency charts (dashed, muted): {self.overlay.label}, "
            f"{rows:,} intervals. It stays for the next runs until Clear.", color=_COLORS["ok"])
        self.clear_button.disabled = False
        return True

    def clear(self) -> None:
        """Remove the compared run from the charts."""
        self.overlay.clear()
        self.clear_button.disabled = True
        self.compare_status.value = ""


__all__ = ["HISTORY_TAB", "LIMIT", "OFF_TEXT", "CompareOverlay", "HistoryTab", "runs_html",
           "started_text"]
