"""Charts read like the numbers people write, and end where the load ended.

Axis ticks: one formatter (:data:`loadnb.charting.TICKS_JS`) on every numeric axis of the widget,
the HTML report, the capacity, sweep and comparison charts; its output checked in Chromium (the
engine that draws it), and the labels of a rendered report read back from the page.

Throughput: a run's final snapshot covers the sliver of an interval left when the load ended; its
rate is not drawn (a gap), so no chart ends in a dip (or a spike) that did not happen. Built from
a real snapshot sequence: the monitor on a fake clock, its last interval 20 ms long.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from bokeh.models import ContinuousAxis, CustomJSTickFormatter, Model, Plot

from loadnb.charts.axes import TICKS_JS, drawn_rate, drawn_rates
from loadnb.history import compare
from loadnb.record.record import RunRecord
from loadnb.results.report import _charts
from loadnb.results.result import Result
from loadnb.runner.monitor import Monitor
from loadnb.spec.config import make_spec
from loadnb.studies.charts import capacity_chart, sweep_chart
from loadnb.studies.usl import UslFit
from tests.doubles import FakeClock, FakeSource, interval, payload

#: (ticks as Bokeh places them, the labels wanted)
CASES: list[tuple[list[float], list[str]]] = [
    ([0, 25_000, 50_000, 75_000, 100_000], ["0", "25k", "50k", "75k", "100k"]),
    ([1e5], ["100k"]),
    ([1e6, 1.5e6, 2e6, 2.5e6], ["1M", "1.5M", "2M", "2.5M"]),
    ([0, 250, 500, 750, 1000, 1250], ["0", "250", "500", "750", "1k", "1.25k"]),
    ([0, 0.05, 0.1, 0.15000000000000002, 0.2], ["0", "0.05", "0.1", "0.15", "0.2"]),
    ([1e9, 2e9, 1e12], ["1B", "2B", "1T"]),
    ([-50_000, 0, 50_000], ["-50k", "0", "50k"]),
    ([99.5, 100, 100.5], ["99.5", "100", "100.5"]),
    ([123_456], ["123k"]),
    ([159_999, 159_999.5, 160_000], ["159.999k", "159.9995k", "160k"]),  # zoomed: all differ
    ([0.001, 0.01, 0.1, 1, 10, 100, 1000, 10_000, 100_000],  # a log axis
     ["0.001", "0.01", "0.1", "1", "10", "100", "1k", "10k", "100k"]),
]


@pytest.mark.browser
def test_tick_labels_read_like_numbers_people_write(browser: Any) -> None:
    page = browser.new_page()
    try:
        got = page.evaluate(
            """([code, cases]) => {
                 const format = new Function("tick", "index", "ticks", code);
                 return cases.map(ticks => ticks.map((t, i) => format(t, i, ticks)));
               }""", [TICKS_JS, [ticks for ticks, _ in CASES]])
    finally:
        page.close()
    assert got == [labels for _, labels in CASES]


# -- every chart uses it -----------------------------------------------------------------------
def _continuous_axes(root: Model) -> list[tuple[str, ContinuousAxis]]:
    out = []
    for plot in [root, *root.references()]:
        if isinstance(plot, Plot):
            title = getattr(plot.title, "text", "") or type(plot).__name__
            out += [(title, axis) for side in (plot.left, plot.right, plot.above, plot.below)
                    for axis in side if isinstance(axis, ContinuousAxis)]
    return out


def _assert_readable(root: Model, at_least: int) -> None:
    axes = _continuous_axes(root)
    assert len(axes) >= at_least, len(axes)
    for title, axis in axes:
        assert isinstance(axis.formatter, CustomJSTickFormatter), (title, axis.formatter)
        assert axis.formatter.code == TICKS_JS, title


def _run(final_seconds: float = 0.02, n: int = 4, rate: int = 200) -> Result:
    """A run of ``n`` full 0.5 s intervals at ``rate`` req/s, then the final one: what finished
    in the ``final_seconds`` after the load ended (one response)."""
    record = RunRecord("c0ffee000001", make_spec("http://127.0.0.1:9/", users=2, duration=2.0,
                                                 history="off"))
    full = [payload(interval(completed=rate // 2, latencies=[0.01] * (rate // 2)),
                    active_users=2, target_users=2, progress=25.0 * (i + 1)) for i in range(n)]
    source = FakeSource(*full, payload(interval(completed=1, latencies=[0.01])))
    clock = FakeClock(100.0)
    monitor = Monitor([source], record, [], interval=0.5, clock=clock, wall=lambda: clock.now,
                      cpu=lambda: 0.0)
    monitor.begin()
    for _ in range(n):
        clock.advance(0.5)
        monitor.tick()
    clock.advance(final_seconds)
    monitor.tick(final=True)
    record.state = "done"
    return Result(record)


def test_the_widget_charts_have_readable_axes() -> None:
    from loadnb.ui.charts import build_charts

    charts = build_charts()
    charts.attach()  # every tab's charts (the first tab's only are in the page at first)
    _assert_readable(charts.layout, at_least=20)


def test_the_report_capacity_sweep_and_compare_charts_have_readable_axes() -> None:
    run = _run()
    for _, fig in _charts([run]):
        _assert_readable(fig, at_least=2)
    rows = [{"offered_rps": r, "achieved_rps": r * 0.99, "p50_ms": 1.0, "p90_ms": 2.0,
             "p99_ms": 3.0, "passed": r < 4e5} for r in (1e5, 2e5, 4e5)]
    _assert_readable(capacity_chart(rows, 2.5, 2e5), at_least=2)
    _assert_readable(sweep_chart([1, 2, 4], [1e5, 1.9e5, 3.5e5],
                                 UslFit(lam=1e5, sigma=0.01, kappa=0.001, r2=0.99)), at_least=2)
    _assert_readable(compare(run, _run()).chart(), at_least=3)  # rps, p99 (right), x


REPORT_LABELS_JS = """() => {
  const out = [];
  for (const view of Bokeh.index.query(() => true)) {
    const m = view.model;
    if (!m.type || !m.type.endsWith('Axis')) continue;
    const labels = view.compute_labels(view.tick_coords.major[view.dimension]);
    out.push(labels.items.map(l => l.text));
  }
  return out;
}"""


@pytest.mark.browser
def test_report_axis_labels_in_chromium_are_not_e_notation(browser: Any, tmp_path: Path) -> None:
    """A run at about 160,000 req/s: Bokeh's default formatter labels its throughput axis
    ``1.6e+5``; these read ``160k``."""
    from tests.results.test_report import synthetic

    path = synthetic(40, interval=0.005).report(tmp_path / "fast.html")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(path.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                               "document.querySelectorAll('.bk-Figure').length >= 6",
                               timeout=30_000)
        page.wait_for_timeout(300)
        labels = page.evaluate(REPORT_LABELS_JS)
    finally:
        page.close()
    flat = [text for axis in labels for text in axis]
    assert len(labels) >= 12 and flat, labels
    assert not [t for t in flat if re.search(r"\de[+-]?\d", t)], labels
    assert any(t.endswith("k") for t in flat), labels  # the throughput axis


# -- the final, partial interval ---------------------------------------------------------------
def test_the_final_partial_interval_is_not_drawn_as_a_dip() -> None:
    run = _run(final_seconds=0.02)
    df = run.df
    assert list(df["phase"])[-1] == "done" and df["current_rps"].iloc[-1] == pytest.approx(50)
    drawn = drawn_rates(list(df["elapsed_time"]), list(df["current_rps"]), list(df["phase"]))
    assert drawn[:-1] == pytest.approx([200.0] * 4) and math.isnan(drawn[-1])
    assert df["current_rps"].iloc[-1] == pytest.approx(50)  # df itself unchanged
    # a final interval of at least half an interval is real load: drawn
    longer = _run(final_seconds=0.3).df
    assert drawn_rates(list(longer["elapsed_time"]), list(longer["current_rps"]),
                       list(longer["phase"]))[-1] == pytest.approx(1 / 0.3)
    # only a run's last snapshot is ever left out, and a run of one interval keeps it
    assert drawn_rate(50.0, 0.02, 0.5, "running") == 50.0
    assert drawn_rates([0.02], [50.0], ["done"]) == [50.0]


def _last_y(fig: Model, name: str) -> float:
    ys = [r.data_source.data[name] for r in fig.renderers
          if hasattr(r, "data_source") and name in r.data_source.data
          and len(r.data_source.data[name])]
    return float(ys[0][-1])


def test_report_and_compare_throughput_lines_end_at_the_last_full_interval() -> None:
    run = _run()
    throughput = dict(_charts([run]))["throughput"]
    assert math.isnan(_last_y(throughput, "y"))
    users = dict(_charts([run]))["users"]
    assert _last_y(users, "y") == run.df["active_users"].iloc[-1]  # others keep their last
    chart = compare(run, _run(rate=400)).chart()
    rps_lines = [r for r in chart.renderers if getattr(r, "y_range_name", "default") == "default"
                 and r.data_source.data.get("y") is not None and len(r.data_source.data["y"])]
    assert len(rps_lines) == 2
    for line in rps_lines:
        assert math.isnan(line.data_source.data["y"][-1])
        assert not math.isnan(line.data_source.data["y"][-2])


def test_the_widget_throughput_line_ends_at_the_last_full_interval() -> None:
    from loadnb.ui.dashboard import Dashboard

    run = _run()
    dash = Dashboard()
    dash.reset(run.spec)
    for snap in run.snapshots:
        dash.update(snap)
    dash.flush()
    rps = dash.sources["overview"].data["current_rps"]
    assert rps[:-1] == pytest.approx([200.0] * 4) and math.isnan(rps[-1])
    assert dash.sources["timeline"].data["current_rps"][-1] == pytest.approx(50)  # the table
