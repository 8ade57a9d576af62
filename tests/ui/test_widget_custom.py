"""The widget's Custom tab (one chart per custom metric) and its thresholds table, without a
browser (ipywidgets 8 works without a kernel). Runs go against the demo server on 127.0.0.1."""

from __future__ import annotations

import math
from typing import Any

import pytest

from loadnb.engine.vuser import VirtualUser
from loadnb.metrics.snapshot import Snapshot
from loadnb.ui import LoadTest
from loadnb.ui.alerts import thresholds_html
from loadnb.ui.custom import CUSTOM_TAB, MAX_CHARTS
from loadnb.ui.dashboard import Dashboard
from tests.bundles import source_column
from tests.conftest import until
from tests.doubles import update_of

FAST: dict[str, Any] = {"interval": 0.1, "graceful_stop": 1}
BASE_TABS = ["Overview", "Latency", "Errors", "Summary", "Generator"]


async def shop(user: VirtualUser) -> None:
    user.count("cart_items", 2)
    async with user.timer("checkout"):
        await user.get("/", name="home")
    user.gauge("queue_depth", user.index + 1)
    await user.sleep(0.005)


async def plain(user: VirtualUser) -> None:
    await user.get("/", name="home")
    await user.sleep(0.005)


def titles(test: LoadTest) -> list[str]:
    return [t.title for t in test.dashboard.layout.tabs]


def snap(elapsed: float) -> Snapshot:
    return Snapshot(timestamp=0.0, elapsed_time=elapsed, progress_percent=0.0, active_users=1,
                    completed_requests=0, failed_requests=0, success_rate=math.nan,
                    current_rps=0.0, peak_rps=0.0, estimated_completion=math.nan)


async def test_custom_tab_appears_with_one_chart_per_metric(demo_url: str) -> None:
    test = LoadTest(shop, url=demo_url, users=2, duration=0.6, **FAST)
    assert titles(test) == BASE_TABS  # no custom metric yet: no tab
    result = await test.run()
    assert titles(test) == [*BASE_TABS, CUSTOM_TAB]
    sources = test.dashboard.custom.sources
    assert set(sources) == {"cart_items", "checkout", "queue_depth"}
    assert test.dashboard.custom.kinds == {"cart_items": "counter", "checkout": "timing",
                                          "queue_depth": "gauge"}
    frame = result.custom
    for name, source in sources.items():
        rows = frame[frame.metric == name]
        assert source.data["elapsed_time"] == rows.elapsed_time.tolist()  # flushed at the end
    cart = sources["cart_items"].data
    assert sum(cart["total"]) == result.summary["custom"]["cart_items"]["total"]
    checkout = sources["checkout"].data
    assert set(checkout) == {"elapsed_time", "p50_ms", "p95_ms", "p99_ms"}
    assert checkout["p99_ms"] == pytest.approx(
        frame[frame.metric == "checkout"].p99_ms.tolist())
    assert set(sources["queue_depth"].data["last"]) <= {1.0, 2.0, 3.0}
    # the page gets the charts too (what a saved notebook keeps)
    bundle = test.chart.render_bundle
    assert source_column(bundle, "p95_ms") is not None
    # a new run without custom metrics: the tab goes away
    test.dashboard.layout.active = len(BASE_TABS)  # the Custom tab on screen
    test.start()
    assert titles(test) == BASE_TABS and test.dashboard.layout.active == 0
    await test.wait()
    assert titles(test) == [*BASE_TABS, CUSTOM_TAB]  # same scenario: back again


async def test_a_run_without_custom_metrics_has_no_custom_tab(demo_url: str) -> None:
    test = LoadTest(plain, url=demo_url, users=1, duration=0.3, **FAST)
    await test.run()
    assert titles(test) == BASE_TABS and test.dashboard.custom.sources == {}


def test_custom_rows_stream_while_on_screen_and_wait_otherwise() -> None:
    dash = Dashboard(rollover=5)
    row: tuple[Any, ...] = (1.0, "n", "counter", 1, 3.0, *([math.nan] * 9))
    dash.update_custom([row])
    source = dash.custom.sources["n"]
    assert source.data["total"] == []  # hidden tab: buffered
    dash.layout.active = len(BASE_TABS)  # select the Custom tab: flushed
    assert source.data["total"] == [3.0]
    dash.update_custom([(t, "n", "counter", 1, t, *([math.nan] * 9)) for t in range(2, 10)])
    assert source.data["total"] == [5.0, 6.0, 7.0, 8.0, 9.0]  # the rollover holds
    dash.layout.active = 0
    dash.update_custom([(10.0, "n", "counter", 1, 10.0, *([math.nan] * 9))])
    dash.flush()  # the end of a run
    assert source.data["total"][-1] == 10.0


def test_at_most_max_charts_and_a_note_for_the_rest() -> None:
    dash = Dashboard()
    dash.update_custom([(1.0, f"m{i}", "gauge", 1, math.nan, float(i), float(i), float(i),
                         *([math.nan] * 6)) for i in range(MAX_CHARTS + 3)])
    assert len(dash.custom.sources) == MAX_CHARTS
    note = dash.custom._note
    assert note is not None and "3 more custom metric" in note.text


# -- the thresholds table --------------------------------------------------------------------
def test_thresholds_html_says_pass_and_fail_in_words() -> None:
    assert thresholds_html([]) == ""
    text = thresholds_html([
        {"expr": "p95<300ms", "observed": 12.3456, "passed": True},
        {"expr": "errors<1%", "observed": 30.0, "passed": False},
        {"expr": "rps>10 & <b>", "observed": None, "passed": None}])
    assert "✓ pass" in text and "✗ fail" in text and "…" in text
    assert "#1b5e20" in text and "#b00020" in text
    assert "12.346" in text and "&lt;b&gt;" in text and "<b>" not in text
    assert text.index("p95&lt;300ms") < text.index("✓ pass") < text.index("errors&lt;1%")


async def test_thresholds_table_follows_the_record(demo_url: str) -> None:
    test = LoadTest(plain, url=demo_url, users=1, duration=0.4, **FAST)
    area = test.thresholds_area
    assert area.value == "" and area.layout.display == "none"
    assert test.children.index(area) == test.children.index(test.alert_area) + 1
    test.start()
    run = test.current_run
    assert run is not None
    await until(lambda: len(run.record.snapshots) > 0)
    pending = ({"expr": "p95<300ms", "observed": None, "passed": None},)
    test._on_update(run, update_of(run.record, thresholds=pending))  # as the monitor sends it
    assert "…" in area.value and area.layout.display is None
    await test.wait()
    judged = ({"expr": "p95<300ms", "observed": 4.2, "passed": True},
              {"expr": "errors<1%", "observed": 50.0, "passed": False})
    test._on_update(run, update_of(run.record, thresholds=judged))
    assert "✓ pass" in area.value and "✗ fail" in area.value and "4.2" in area.value
    test._on_update(run, update_of(run.record, thresholds=()))
    assert area.value == "" and area.layout.display == "none"
