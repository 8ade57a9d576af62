"""The Generator tab's per-worker lines (issue 24): each worker's requests/s and loop lag, one
line per worker with a capped legend, streamed with every update of a run on Dask; a run in this
process shows the tab as before. Updates carrying worker rows are fed to the widget's sinks."""

from __future__ import annotations

import math
from typing import Any

from loadnb.record.state import RunState
from loadnb.record.update import Update
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from loadnb.ui import LoadTest
from loadnb.ui.dashboard import Dashboard
from loadnb.ui.workers_view import WORKER_LINES
from tests.ui.widget_helpers import snap

GENERATOR_TAB = 4


def worker_rows(at: float, rps: list[float], lag: list[float]) -> tuple[tuple[Any, ...], ...]:
    """One interval's ``workers_timeline`` rows (worker, elapsed_time, requests, rps, loop lag,
    CPU, lost), at 0.5 s intervals."""
    return tuple((w, at, int(r / 2), r, lg, 30.0, False)
                 for w, (r, lg) in enumerate(zip(rps, lag, strict=True)))


def update(at: float, workers: tuple[tuple[Any, ...], ...] = ()) -> Update:
    return Update(snap(elapsed_time=at), RunState.RUNNING, {}, {}, (), (), (), (), (), (), (),
                  {}, workers=workers)


def labels(dash: Dashboard) -> list[str]:
    return [str(item.label.value) for item in dash.charts.workers.rps.items if item.visible]


def test_worker_rows_stream_one_line_per_worker_into_the_generator_tab() -> None:
    test = LoadTest("http://127.0.0.1:9/", users=6, duration="2s", workers=3)
    run = Run(test.spec)
    test._run = run  # the widget's current run: its updates are shown
    test.dashboard.layout.active = GENERATOR_TAB
    view = test.dashboard.charts.workers
    assert not view.box.visible  # before a run on Dask, the tab is as before
    for i, lag in enumerate([2.0, 3.0, 400.0]):
        at = 0.5 * (i + 1)
        test._on_update(run, update(at, worker_rows(at, [100.0, 90.0, 110.0], [1.0, lag, 2.0])))
    data = view.source.data
    assert data["elapsed_time"] == [0.5, 1.0, 1.5]
    assert [data[f"rps{w}"] for w in range(3)] == [[100.0] * 3, [90.0] * 3, [110.0] * 3]
    assert data["lag1"] == [2.0, 3.0, 400.0] and data["lag0"] == [1.0] * 3
    assert all(math.isnan(v) for v in data["rps3"])  # no fourth worker
    assert view.box.visible and labels(test.dashboard) == ["worker 0", "worker 1", "worker 2"]
    assert test.dashboard.sources["generator"].data["elapsed_time"] == [0.5, 1.0, 1.5]


def test_the_legend_is_capped_the_rest_share_one_line() -> None:
    dash = Dashboard()
    dash.reset(make_spec("http://127.0.0.1:9/", users=24, duration="2s", workers=12))
    dash.layout.active = GENERATOR_TAB
    n = 12
    rps = [float(10 * (w + 1)) for w in range(n)]
    lag = [float(w) for w in range(n)]
    lag[10] = math.nan  # nothing from worker 10 in this interval
    dash.update_extras([], (), worker_rows(0.5, rps, lag))
    shown = labels(dash)
    assert len(shown) == WORKER_LINES
    assert shown[:-1] == [f"worker {w}" for w in range(WORKER_LINES - 1)]
    assert shown[-1] == "others (mean)"
    data = dash.charts.workers.source.data
    rest = range(WORKER_LINES - 1, n)  # workers 8, 9, 10, 11
    assert data[f"rps{WORKER_LINES - 1}"] == [sum(rps[w] for w in rest) / len(rest)]
    assert data[f"lag{WORKER_LINES - 1}"] == [11.0]  # the worst lag among them
    assert [str(i.label.value) for i in dash.charts.workers.lag.items if i.visible][-1] == (
        "others (worst)")


def test_rows_wait_while_the_tab_is_hidden_and_a_new_run_clears_them() -> None:
    dash = Dashboard()
    spec = make_spec("http://127.0.0.1:9/", users=4, duration="2s", workers=2)
    dash.reset(spec)
    for i in range(3):
        dash.update_extras([], (), worker_rows(0.5 * (i + 1), [5.0, 6.0], [1.0, 1.0]))
    source = dash.charts.workers.source
    assert source.data["elapsed_time"] == []  # the Overview tab is on screen: buffered
    dash.layout.active = GENERATOR_TAB
    assert source.data["elapsed_time"] == [0.5, 1.0, 1.5]
    dash.reset(spec)
    assert source.data["elapsed_time"] == [] and not dash.charts.workers.box.visible
    assert labels(dash) == []


def test_a_run_in_this_process_has_no_worker_lines() -> None:
    dash = Dashboard()
    dash.reset(make_spec("http://127.0.0.1:9/", users=4, duration="2s"))
    dash.layout.active = GENERATOR_TAB
    for i in range(3):
        dash.update(snap(elapsed_time=0.5 * (i + 1)))
        dash.update_extras([], ())
    assert dash.charts.workers.source.data["elapsed_time"] == []
    assert not dash.charts.workers.box.visible and labels(dash) == []
    assert len(dash.sources["generator"].data["elapsed_time"]) == 3
