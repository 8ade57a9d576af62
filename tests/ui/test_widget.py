"""The LoadTest widget without a browser: ipywidgets 8 works without a kernel (nothing is sent).

Runs go against a real aiohttp server on 127.0.0.1 in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import math
import re
from functools import partial
from typing import Any

import ipywidgets as W
import pytest
from bokeh.core.serialization import Serializer
from bokeh.models import ColumnDataSource, TabPanel, Tabs
from bokeh.plotting import figure
from jupyter_bokeh import BokehModel

import loadnb
from loadnb.metrics.snapshot import COLUMNS, Snapshot
from loadnb.spec.config import make_spec
from loadnb.ui import LoadTest
from loadnb.ui import loadtest as widget_module
from loadnb.ui.bokeh_model import LiveBokehModel
from loadnb.ui.formatting import metrics_html
from loadnb.ui.kernel_cluster import KernelRun
from tests.conftest import until
from tests.ui.widget_helpers import FAST, rows, snap


# -- construction and the form ---------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"url": "ftp://example.com/"}, {"url": "not a url"}, {"url": "http://h/", "users": 0},
    {"url": "http://h/", "users": 5, "rate": 10}, {"url": "http://h/", "duration": "soon"},
    {"url": "http://h/", "duration": 5, "ramp_up": 10},
])
def test_constructor_raises_make_spec_errors(kwargs: dict[str, Any]) -> None:
    url = kwargs.pop("url")
    with pytest.raises(ValueError) as expected:
        make_spec(url, **kwargs)
    with pytest.raises(ValueError) as got:
        LoadTest(url, **kwargs)
    assert str(got.value) == str(expected.value)


def test_widget_shows_everything() -> None:
    test = loadnb.LoadTest("http://127.0.0.1:9/", users=7, duration="8s", ramp_up=2)
    assert isinstance(test, W.VBox) and loadnb.LoadTest is LoadTest
    c = test.controls
    assert (c.url.value, c.model.value, c.users.value) == ("http://127.0.0.1:9/", "users", 7)
    assert (c.duration.value, c.ramp_up.value) == (8.0, 2.0)
    assert isinstance(test.progress, W.FloatProgress) and isinstance(test.chart, LiveBokehModel)
    assert [t.title for t in test.dashboard.layout.tabs] == ["Overview", "Latency", "Errors",
                                                             "Summary", "Generator"]
    assert "Ready 0.0% | Active: 0 | RPS: 0.0 | Success: — | Completed: 0" in test.metrics.value
    assert not test.start_button.disabled and test.stop_button.disabled
    bundle = test._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == test.model_id
    assert test.result is None and test.results == [] and test.df.empty
    assert repr(test) == "<LoadTest GET http://127.0.0.1:9/ 7 users, 8 s: idle, 0 result(s)>"
    assert list(test.df.columns) == list(COLUMNS)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("url", "ftp://nope", "invalid URL"), ("ramp_up", 20.0, "ramp_up (20s) is longer"),
    ("duration", 0.0, "duration must be greater than 0"),
])
def test_bad_edit_shows_message_next_to_field_and_start_refuses(
        field: str, value: Any, message: str) -> None:
    test = LoadTest("http://127.0.0.1:9/", users=2, duration=10)
    test.controls.inputs[field].value = value  # never raises into the kernel
    assert message in test.controls.errors[field].value
    others = [n for n in test.controls.errors if n != field]
    assert all(test.controls.errors[n].value == "" for n in others)
    assert test.start_button.disabled
    test.start()  # refused with a message, no run (and no event loop needed)
    assert "Cannot start" in test.status.value and message in test.status.value
    assert test.results == [] and test.state == "idle"
    test.start_button.click()
    assert test.results == []
    test.controls.inputs[field].value = {"url": "http://127.0.0.1:9/", "ramp_up": 1.0,
                                         "duration": 10.0}[field]
    assert test.controls.errors[field].value == "" and not test.start_button.disabled


def test_rate_model_toggle_and_rate_validation() -> None:
    test = LoadTest("http://127.0.0.1:9/", users=3)
    c = test.controls
    c.model.value = "rate"
    assert c.rows["users"].layout.display == "none" and c.rows["rate"].layout.display is None
    c.rate.value = 0.0
    assert "rate must be greater than 0" in c.errors["rate"].value and test.start_button.disabled
    c.rate.value = 50.0
    spec = test.spec
    assert spec.model == "open" and spec.rate == 50.0
    assert LoadTest("http://h/", rate=20, timeout=3).spec.timeout == 3.0


def test_metrics_line_is_the_briefs() -> None:
    assert metrics_html(snap()).endswith(">🔄 Running... 45.2% | Active: 15 | RPS: 12.5 | "
                                         "Success: 98.5% | Completed: 1,250</div>")
    assert "Success: — |" in metrics_html(snap(success_rate=math.nan))


# -- the echo of the browser -----------------------------------------------------------------
def _echo_stream(model_cls: type[Any]) -> tuple[int, int]:
    """Stream one row, replay the browser's echo of it, and a tab change by the user."""
    source = ColumnDataSource({"x": [], "y": []})
    fig = figure()
    fig.line("x", "y", source=source)
    tabs = Tabs(tabs=[TabPanel(child=fig, title="a"), TabPanel(child=figure(), title="b")])
    model = model_cls(tabs)
    events: list[Any] = []
    assert source.document is not None
    source.document.on_change(lambda event: events.append(event))
    source.stream({"x": [1], "y": [2]}, rollover=100)
    encoded = Serializer(references=set(source.document.models)).encode(events[-1])
    echo = {**encoded, "event": "jsevent"}  # what jupyter_bokeh's BokehView sends back
    model._sync_model(model, echo, [])
    user = {"event": "jsevent", "kind": "ModelChanged", "model": {"id": tabs.id},
            "attr": "active", "new": 1}
    model._sync_model(model, user, [])
    return len(source.data["x"]), tabs.active


def test_echo_is_ignored_but_tab_changes_are_kept() -> None:
    assert _echo_stream(BokehModel) == (2, 1)  # the stock model duplicates the row
    assert _echo_stream(LiveBokehModel) == (1, 1)


# -- runs against a real server --------------------------------------------------------------
async def test_start_returns_at_once_and_streams_one_row_per_snapshot(server: str) -> None:
    test = LoadTest(server, users=3, duration=1.2, **FAST)
    test.start_button.click()
    assert test.state == "running" and test.stop_button.disabled is False
    assert test.start_button.disabled and test.controls.url.disabled
    assert "Running" in test.status.value
    seen: list[int] = []
    while test.running:
        await until(lambda: len(test.df) > (seen[-1] if seen else 0) or not test.running, 5)
        live = len(test.df)
        seen.append(live)
        assert rows(test)["overview"] == live  # the tab on screen streams at once
        assert test.dashboard.rows() == dict.fromkeys(rows(test), live)  # the others buffer
    result = await test.wait()
    assert result is test.result and test.results == [result] and result.state == "done"
    assert seen[-1] > seen[0] > 0  # df grew while the run went on
    n = len(result.snapshots)
    assert rows(test) == dict.fromkeys(rows(test), n)  # no duplication, nothing missing
    assert test.progress.value == 100.0 and test.progress.bar_style == "success"
    line = re.search(r"✅ Done 100\.0% \| Active: \d+ \| RPS: [\d,.]+ \| Success: 100\.0% \| "
                     r"Completed: ([\d,]+)", test.metrics.value)
    assert line and int(line.group(1).replace(",", "")) == result.summary["completed_requests"]
    assert "Done after" in test.status.value
    assert not test.start_button.disabled and test.stop_button.disabled
    assert len(test.df) == n and test.stats["requests"].sum() == result.summary["total_requests"]
    assert test.summary["state"] == "done" and test.errors.empty
    table = test.dashboard.charts.summary_source.data
    assert "Latency p99" in table["metric"] and table["value"][0] == "done"
    assert sum(test.dashboard.charts.hist_source.data["count"]) == result.overall.latency.total
    targets = test.dashboard.charts.targets  # closed model: the users target, not the rate one
    assert targets["users"][0].visible and not targets["rate"][0].visible


async def test_second_start_is_refused_and_stop_stops(server: str) -> None:
    test = LoadTest(server, users=2, duration=30, **FAST)
    test.start()
    live = test.result
    assert live is not None
    await until(lambda: len(live.snapshots) >= 3)
    test.start_button.click()
    assert "already going on" in test.status.value and len(test.results) == 1
    test.stop_button.click()
    assert test.state in ("stopping", "done")
    result = await asyncio.wait_for(test.wait(), 5)
    assert result.state == "stopped" and "Stopped" in test.status.value
    assert test.progress.bar_style == "warning" and test.progress.value < 50
    count = len(result.snapshots)
    await asyncio.sleep(0.3)
    assert len(result.snapshots) == count and rows(test)["overview"] == count
    test.stop()
    assert "Nothing to stop" in test.status.value


async def test_restart_makes_a_new_result_and_resets_charts(server: str) -> None:
    test = LoadTest(server, users=2, duration=0.5, **FAST)
    first = await test.run()
    test.controls.users.value = 4
    second = await test.run()
    assert test.results == [first, second] and first is not second
    assert second.spec.users == 4 and test.result is second
    assert rows(test)["overview"] == len(second.snapshots)
    assert len(test.df) == len(second.snapshots)


async def test_rollover_bounds_the_charts_not_the_dataframe(server: str) -> None:
    test = LoadTest(server, users=1, duration=1.0, rollover=4, **FAST)
    result = await test.run()
    assert len(result.snapshots) > 6 and len(test.df) == len(result.snapshots)
    assert rows(test) == dict.fromkeys(rows(test), 4)
    assert test.dashboard.sources["overview"].data["elapsed_time"] == [
        s.elapsed_time for s in result.snapshots[-4:]]


async def test_errors_reach_the_errors_tab_and_the_alerts(server: str) -> None:
    test = LoadTest(server + "status/503", users=2, duration=0.6, **FAST)
    result = await test.run()
    charts = test.dashboard.charts
    assert charts.kinds.slots == {"HTTP 5xx": 0} and charts.codes.slots == {"503": 0}
    assert charts.kinds.renderers[0].visible and not charts.kinds.renderers[1].visible
    assert max(list(charts.streams["errors"].data["kind0"])) > 0
    assert result.summary["success_rate"] == 0.0
    assert "Low success rate: 0.0%" in test.alert_area.value
    assert test.errors["kind"].tolist() == ["HTTP 503"]


async def test_custom_and_failing_alerts_are_shown(server: str) -> None:
    def boom(_: Snapshot) -> str | None:
        raise ZeroDivisionError("bad alert")

    test = LoadTest(server, users=1, duration=0.4, alerts=[lambda s: "🔔 custom", boom], **FAST)
    await test.run()
    assert "🔔 custom" in test.alert_area.value and "bad alert" in test.alert_area.value
    assert test.result is not None and test.result.state == "done"


async def test_a_failing_run_is_shown_in_the_widget(server: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_transport(_: Any) -> Any:
        raise ConnectionError("transport exploded")

    monkeypatch.setattr(widget_module, "KernelRun", partial(KernelRun, transport=broken_transport))
    test = LoadTest(server, users=1, duration=1, **FAST)
    test.start_button.click()
    with pytest.raises(ConnectionError, match="transport exploded"):
        await test.wait()
    assert test.state == "failed" and test.progress.bar_style == "danger"
    assert "The run failed: ConnectionError: transport exploded" in test.status.value
    assert "Traceback" in test.status.value  # folded under <details>
    assert not test.start_button.disabled


def test_start_without_an_event_loop() -> None:
    test = LoadTest("http://127.0.0.1:9/", users=1)
    with pytest.raises(RuntimeError, match="running event loop"):
        test.start()
    assert test.results == [] and "running event loop" in test.status.value
    test.start_button.click()  # a click shows the error instead of raising
    assert "running event loop" in test.status.value and test.state == "idle"


async def test_sync_resends_state_and_chart(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(W.Widget, "send_state",
                        lambda self, key=None: sent.append(type(self).__name__))
    test = LoadTest(server, users=1, duration=0.4, **FAST)
    await test.run()
    assert {"FloatProgress", "HTML", "Button", "LoadTest"} <= set(sent)
    # the re-sent document carries the data, so a saved notebook shows the final chart
    assert test.result is not None
    assert _bundle_rows(test.chart.render_bundle) == len(test.result.snapshots)


def _bundle_rows(bundle: dict[str, Any]) -> int:
    """Rows of the Overview source inside a BokehModel ``render_bundle``."""
    stack: list[Any] = [bundle["docs_json"]]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            data = item.get("attributes", {}).get("data") if item.get("name") == (
                "ColumnDataSource") else None
            if data and dict(data["entries"]).keys() >= {"progress_percent", "target_users"}:
                return len(dict(data["entries"])["elapsed_time"])
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    raise AssertionError("no overview source in the bundle")
