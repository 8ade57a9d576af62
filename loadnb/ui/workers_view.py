"""The Generator tab's per-worker lines (a run on Dask): each worker process's requests per second
and event-loop lag per interval, one line per worker, so one worker held back among idle ones
shows (the ``worker_saturated`` alert says so in words).

Rows come with each update (:attr:`~loadnb.record.update.Update.workers`, the run record's
``workers_timeline`` rows: ``worker, elapsed_time, requests, rps, loop_lag_ms, cpu_percent,
lost``). The legend is capped: the first :data:`WORKER_LINES` ``- 1`` workers get a line each and
the others share the last one (their mean rate, their worst lag). The charts stay hidden until a
run's first worker row: a run in this process shows the tab as it always did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bokeh.models import ColumnDataSource, DataRange1d, Row
from bokeh.models.annotations import Span

from ..charts import palette
from ..rules.alerts import LAG_LIMIT_MS
from .panels import add_markers
from .slots import SlotLines, slot_figure

if TYPE_CHECKING:
    from bokeh.models.sources import DataDict

#: Lines per chart: this many workers less one by name, the rest in the last line.
WORKER_LINES = 9
RPS_COLUMNS: tuple[str, ...] = tuple(f"rps{i}" for i in range(WORKER_LINES))
LAG_COLUMNS: tuple[str, ...] = tuple(f"lag{i}" for i in range(WORKER_LINES))
#: Columns of the per-worker source: one row per interval.
WORKER_COLUMNS: tuple[str, ...] = ("elapsed_time", *RPS_COLUMNS, *LAG_COLUMNS)


@dataclass
class WorkerView:
    """The per-worker charts (``box``, hidden until shown), their source and lines."""

    source: ColumnDataSource
    box: Row
    rps: SlotLines
    lag: SlotLines

    def row(self, rows: Sequence[Sequence[Any]]) -> DataDict:
        """One interval's source row from its worker rows (each worker on its line; NaN where a
        line has no worker), showing the charts and the lines of workers seen first."""
        self.box.visible = True
        rates: dict[int, list[float]] = {}
        lags: dict[int, list[float]] = {}
        for worker, _, _, rps, lag, *_ in rows:
            label = f"worker {worker}"
            index = self.rps.slot(label)
            self.lag.slot(label)
            rates.setdefault(index, []).append(float(rps))
            if not math.isnan(lag):
                lags.setdefault(index, []).append(float(lag))
        out: DataDict = {"elapsed_time": [float(rows[0][1])]}
        for i in range(WORKER_LINES):
            seen = rates.get(i)
            out[RPS_COLUMNS[i]] = [sum(seen) / len(seen) if seen else math.nan]
            out[LAG_COLUMNS[i]] = [max(lags[i]) if i in lags else math.nan]
        return out

    def clear(self) -> None:
        """Hide the charts and every line (a new run starts)."""
        self.box.visible = False
        self.rps.clear()
        self.lag.clear()


def worker_view(source: ColumnDataSource, events: ColumnDataSource, x_range: DataRange1d,
                anchor: ColumnDataSource) -> WorkerView:
    """The per-worker requests/s and loop-lag charts (hidden) on ``source``."""
    rps, rps_lines = slot_figure("Requests/s per worker process", "req/s", source, RPS_COLUMNS,
                                 x_range, anchor, first_color=0,
                                 other="others (mean)", beside=True)
    lag, lag_lines = slot_figure("Event-loop lag per worker process (ms)", "ms", source,
                                 LAG_COLUMNS, x_range, anchor, first_color=0,
                                 other="others (worst)", beside=True)
    lag.add_layout(Span(location=LAG_LIMIT_MS, dimension="width", line_color=palette.ERROR,
                        line_dash="dashed", line_width=1))
    for fig in (rps, lag):
        add_markers(fig, events)
    box = Row(children=[rps, lag], sizing_mode="stretch_width", styles={"flex-wrap": "wrap"},
              visible=False)
    return WorkerView(source, box, rps_lines, lag_lines)


__all__ = ["LAG_COLUMNS", "RPS_COLUMNS", "WORKER_COLUMNS", "WORKER_LINES", "WorkerView",
           "worker_view"]
