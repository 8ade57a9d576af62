"""The LoadTest widget without a browser: ipywidgets 8 works without a kernel (nothing is sent).

Runs go against a real aiohttp server on 127.0.0.1 in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import ipywidgets as W
import pytest
from aiohttp import web
from bokeh.core.serialization import Serializer
from bokeh.models import ColumnDataSource, TabPanel, Tabs
from bokeh.plotting import figure
from jupyter_bokeh import BokehModel

import loadnb
from loadnb.engine.vuser import VirtualUser
from loadnb.metrics.snapshot import COLUMNS, Snapshot
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from loadnb.ui import LoadTest
from loadnb.ui import loadtest as widget_module
from loadnb.ui.bokeh_model import LiveBokehModel
from loadnb.ui.controls import LIVE_DEBOUNCE
from loadnb.ui.figures import title_of
from loadnb.ui.formatting import metrics_html
from tests.bundles import source_rows
from tests.conftest import until

FAST: dict[str, Any] = {"interval": 0.1, "graceful_stop": 1}


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """``/`` answers OK after 2 ms, ``/status/{code}`` answers that status."""

    async def ok(_: web.Request) -> web.Response:
        await asyncio.sleep(0.002)
        return web.Response(text="OK")

    async def status(request: web.Request) -> web.Response:
        await asyncio.sleep(0.002)
        return web.Response(status=int(request.match_info["code"]), text="status")

    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_get("/status/{code}", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


def snap(**kw: Any) -> Snapshot:
    base: dict[str, Any] = dict(
        timestamp=0.0, elapsed_time=1.0, progress_percent=45.2, active_users=15,
        completed_requests=1250, failed_requests=19, success_rate=98.5, current_rps=12.5,
        peak_rps=14.0, estimated_completion=5.0)
    return Snapshot(**{**base, **kw})


def rows(test: LoadTest) -> dict[str, int]:
    return {name: len(src.data["elapsed_time"]) for name, src in test.dashboard.sources.items()}


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

    monkeypatch.setattr(widget_module, "Run", partial(Run, transport=broken_transport))
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


# -- scenarios, stages and the plan ----------------------------------------------------------
async def journey(user: VirtualUser) -> None:
    await user.get("/", name="home")
    await user.get("/status/404", name="missing", expect_status=404)


async def other(user: VirtualUser) -> None:
    await user.get("/", name="other")


def not_async(user: VirtualUser) -> None:
    pass


def test_a_scenario_with_stages_constructs_and_the_fields_show_what_applies() -> None:
    stages = [("3s", 5), ("4s", 5), ("3s", 0)]
    test = LoadTest(journey, url="http://127.0.0.1:9/", stages=stages)
    spec = test.spec
    assert spec.scenario is not None and spec.scenario.names == ("journey",)
    assert spec.stages == ((3.0, 5.0), (4.0, 5.0), (3.0, 0.0)) and spec.duration == 10.0
    c = test.controls
    assert c.url.description == "Base URL" and c.url.value == "http://127.0.0.1:9/"
    assert c.target.value == spec.target == "scenario journey on http://127.0.0.1:9/"
    assert c.target.disabled and c.target in c.box.children
    assert (c.duration.value, c.ramp_up.value, c.users.value) == (10.0, 0.0, 5)
    assert c.duration.disabled and c.ramp_up.disabled and c.users.disabled and c.model.disabled
    assert not c.url.disabled and not test.start_button.disabled
    assert "stages: 3 s → 5 users, 4 s → 5 users, 3 s → 0 users (10 s)" in c.plan_note.value
    assert repr(test) == ("<LoadTest scenario journey on http://127.0.0.1:9/ stages up to 5 users, "
                          "10 s: idle, 0 result(s)>")
    # the scenario may also be given as scenario=, after the URL; weights by a mapping
    same = LoadTest("http://127.0.0.1:9/", scenario={journey: 3, other: 1}, users=2)
    assert same.spec.scenario is not None and same.spec.scenario.weights == (3.0, 1.0)
    assert same.controls.target.value == "scenario journey, other on http://127.0.0.1:9/"
    # no base URL: the scenario uses absolute URLs
    absolute = LoadTest(journey, users=2, duration=1)
    assert absolute.spec.url == "" and absolute.controls.target.value == "scenario journey"
    absolute.controls.users.value = 3  # an edit keeps the empty URL valid
    assert absolute.controls.error is None and absolute.spec.users == 3
    # a plain URL test has no Target field and its usual label
    plain = LoadTest("http://127.0.0.1:9/", users=2)
    assert plain.controls.url.description == "Target URL"
    assert plain.controls.target not in plain.controls.box.children


@pytest.mark.parametrize("kwargs", [
    {"stages": [("3s", 5)], "duration": 5}, {"stages": [("3s", 5)], "ramp_up": 1},
    {"stages": [("3s", 5)], "rate": 10}, {"rate_stages": [("3s", 5)], "users": 3},
    {"stages": []}, {"stages": [("3s", 0)]}, {"stages": [("soon", 5)]},
    {"stages": [("3s", 5)], "rate_stages": [("3s", 5)]}, {"shape": 5, "duration": 3},
    {"data": [1, 2]}, {"scenario": journey, "transport": "fast"},
    {"scenario": journey, "data": []}, {"scenario": journey, "data": [1], "data_mode": "often"},
    {"scenario": not_async}, {"scenario": {journey: 0}}, {"expected_interval": "10ms", "rate": 5},
    {"transport": "pigeon"},
])
def test_constructor_raises_make_spec_errors_for_scenarios_and_shapes(
        kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as expected:
        make_spec("http://h/", **kwargs)
    with pytest.raises(ValueError) as got:
        LoadTest("http://h/", **kwargs)
    assert str(got.value) == str(expected.value)


def test_url_and_scenario_are_given_once() -> None:
    with pytest.raises(ValueError, match="give the scenario once"):
        LoadTest(journey, scenario=other, url="http://h/")
    with pytest.raises(ValueError, match="give the URL once"):
        LoadTest("http://h/", url="http://h/")
    with pytest.raises(ValueError, match="invalid URL"):
        LoadTest(journey, url="ftp://h/")


def test_the_plan_is_drawn_before_the_run_and_follows_the_form() -> None:
    test = LoadTest("http://127.0.0.1:9/", users=8, duration=10, ramp_up=4)
    charts = test.dashboard.charts
    plan = charts.plan_source.data
    times, targets = test.spec.load_shape().sample(200)
    assert len(plan["plan"]) == 200 and plan["plan_time"] == times and plan["plan"] == targets
    assert plan["plan"][0] == 0.0 and plan["plan"][-1] == 8.0
    assert charts.plans["users"][0].visible and not charts.plans["rate"][0].visible
    assert source_rows(test.chart.render_bundle, "plan") == 200  # in what the page gets
    test.controls.users.value = 20  # an edit redraws the plan the next Start would run
    assert max(charts.plan_source.data["plan"]) == 20.0
    test.controls.model.value = "rate"
    test.controls.rate.value = 50.0
    assert charts.plan_source.data["plan"] == test.spec.load_shape().sample(200)[1]
    assert charts.plans["rate"][0].visible and not charts.plans["users"][0].visible
    test.controls.rate.value = 0.0  # invalid: the last valid plan stays
    assert max(charts.plan_source.data["plan"]) == 50.0
    staged = LoadTest(journey, url="http://127.0.0.1:9/", stages=[("3s", 5), ("4s", 5), ("3s", 0)])
    staged_plan = staged.dashboard.charts.plan_source.data
    assert (staged_plan["plan_time"], staged_plan["plan"]) == staged.spec.load_shape().sample(200)
    assert max(staged_plan["plan"]) == 5.0 and staged_plan["plan"][-1] == 0.0
    counted = LoadTest("http://127.0.0.1:9/", users=2, requests=100)  # no time axis: no plan
    assert counted.dashboard.charts.plan_source.data["plan"] == []


# -- live changes ----------------------------------------------------------------------------
async def test_moving_the_users_slider_changes_the_running_load(
        server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    set_users = Run.set_users
    monkeypatch.setattr(Run, "set_users",
                        lambda self, n: (calls.append(n), set_users(self, n))[1])
    test = LoadTest(server, users=2, duration=2.0, interval=0.2, graceful_stop=1)
    with pytest.raises(RuntimeError, match="no run is going on"):
        test.set_users(3)
    test.start()
    c = test.controls
    assert not c.users.disabled and c.duration.disabled and c.url.disabled and c.model.disabled
    assert "users slider changes the load live" in test.status.value
    live = test.result
    assert live is not None
    await until(lambda: len(live.snapshots) >= 3)
    c.users.value = 5  # slider steps (arrow keys, a drag) within the debounce time ...
    c.users.value = 6
    assert calls == []
    await until(lambda: calls, timeout=LIVE_DEBOUNCE + 2)
    assert calls == [6] and "users set to 6" in test.status.value  # ... make one change
    with pytest.raises(ValueError, match="set_rate applies to the open model"):
        test.set_rate(50)
    with pytest.raises(ValueError, match="whole number"):
        test.set_users(2.5)  # type: ignore[arg-type]
    await until(lambda: any(s.event for s in live.snapshots))
    first = next(i for i, s in enumerate(live.snapshots) if s.event)
    await until(lambda: len(live.snapshots) >= first + 3)  # two whole intervals at 6 users
    test.set_users(3)  # from code: the slider follows, without a second call
    assert calls == [6, 3] and c.users.value == 3
    result = await test.wait()
    snaps = result.snapshots
    marked = [i for i, s in enumerate(snaps) if s.event]
    assert [snaps[i].event for i in marked] == ["set to 6 users", "set to 3 users"]
    first, second = marked
    assert snaps[first].target_users == 6 and snaps[second].target_users == 3
    assert all(s.active_users == 2 for s in snaps[:first])
    assert 6 in (snaps[first].active_users, snaps[first + 1].active_users)  # within an interval
    assert all(s.active_users == 6 for s in snaps[first + 1:second])
    assert 3 in (snaps[second].active_users, snaps[second + 1].active_users)
    events = test.dashboard.charts.events_source.data
    assert events["event"] == ["set to 6 users", "set to 3 users"]
    assert events["event_time"] == [snaps[first].elapsed_time, snaps[second].elapsed_time]
    # after the run the form is the next run's again: the last value, every field enabled
    assert not c.duration.disabled and not c.url.disabled and c.users.min == 1
    assert test.spec.users == 3 and not test.start_button.disabled
    test.controls.users.value = 4  # an ordinary edit again, not a live change
    assert calls == [6, 3] and test.spec.users == 4


async def test_set_rate_and_the_rate_field_change_the_running_rate(server: str) -> None:
    test = LoadTest(server, rate=20, duration=2.8, interval=0.2, graceful_stop=1)
    test.start()
    assert not test.controls.rate.disabled and test.controls.users.disabled
    live = test.result
    assert live is not None
    await until(lambda: len(live.snapshots) >= 3)
    test.set_rate(100)
    assert test.controls.rate.value == 100.0
    with pytest.raises(ValueError, match="set_users applies to the closed model"):
        test.set_users(3)
    await until(lambda: any(s.event for s in live.snapshots))
    changed = next(i for i, s in enumerate(live.snapshots) if s.event)
    await until(lambda: len(live.snapshots) >= changed + 4)  # three whole intervals at 100/s
    test.controls.rate.value = 50.0  # the field, as a user would type it
    result = await test.wait()  # the change comes LIVE_DEBOUNCE after the last keystroke
    snaps = result.snapshots
    marked = [i for i, s in enumerate(snaps) if s.event]
    assert [snaps[i].event for i in marked] == ["set to 100 req/s", "set to 50 req/s"]
    first, second = marked
    assert [s.target_rate for s in snaps[first - 1:first + 1]] == [20.0, 100.0]
    assert {s.target_rate for s in snaps[first:second]} == {100.0}
    assert {s.target_rate for s in snaps[second:] if s.phase == "running"} == {50.0}
    fast = snaps[first + 1:second]
    slow = [s for s in snaps[second + 1:-1] if s.phase == "running"]
    assert fast and slow

    def delivered(window: list[Any], since: Any) -> float:
        """Requests per second over the window's intervals together (a busy machine's stalled
        interval is caught up in the next: arrivals keep their times)."""
        return sum(s.interval_requests for s in window) / (window[-1].elapsed_time
                                                            - since.elapsed_time)

    assert 80 < delivered(fast, snaps[first]) < 120, [s.current_rps for s in fast]
    assert 40 < delivered(slow, snaps[second]) < 60, [s.current_rps for s in slow]
    assert test.dashboard.charts.events_source.data["event"] == [
        "set to 100 req/s", "set to 50 req/s"]
    assert "Low RPS" not in test.alert_area.value  # a change's interval is not a shortfall
    with pytest.raises(RuntimeError, match="no run is going on"):
        test.set_rate(10)


# -- what the charts show --------------------------------------------------------------------
async def test_latency_tab_shows_response_and_service_time(server: str) -> None:
    test = LoadTest(server, rate=50, duration=0.6, **FAST)
    left, right = (title_of(f).text for f in test.dashboard.charts.latency_figures)
    assert "Response time" in left and "intended start" in left
    assert "Service time" in right and "from the send" in right
    test.dashboard.layout.active = 1  # the Latency tab on screen
    result = await test.run()
    source = test.dashboard.sources["latency"].data
    for p in ("p50", "p90", "p95", "p99"):
        assert source[f"service_{p}_ms"] == [getattr(s, f"service_{p}_ms")
                                             for s in result.snapshots]
    assert source["p99_ms"] == [s.p99_ms for s in result.snapshots]
    dist = test.dashboard.charts.dist_source.data
    assert dist["service_ms"][0] == pytest.approx(result.summary["service_ms"]["p50"], abs=1e-3)
    closed = LoadTest(server, users=2)
    left, right = (title_of(f).text for f in closed.dashboard.charts.latency_figures)
    assert "from the send" in left and "Service time" in right
    corrected = LoadTest(server, users=2, expected_interval="10ms")
    assert "coordinated omission" in title_of(corrected.dashboard.charts.latency_figures[0]).text


async def test_scenario_run_fills_the_per_name_table_and_the_generator_tab(server: str) -> None:
    test = LoadTest(journey, url=server, stages=[(0.4, 2), (0.4, 2), (0.2, 0)], **FAST)
    result = await test.run()
    stats = test.stats
    assert set(stats["name"]) == {"home", "missing"} and stats["failed"].sum() == 0
    table = test.dashboard.charts.stats_source.data
    assert table["name"] == stats["name"].tolist()
    assert table["requests"] == [float(n) for n in stats["requests"]]
    assert table["service_p99_ms"] == pytest.approx(stats["service_p99_ms"].tolist())
    targets = [s.target_users for s in result.snapshots if s.phase == "running"]
    assert max(targets) == 2 and targets[0] < 2  # the stages ramp up
    generator = test.dashboard.sources["generator"].data
    assert generator["loop_lag_ms"] == [s.loop_lag_ms for s in result.snapshots]
    assert generator["waiting_for_connection"] == [
        s.waiting_for_connection for s in result.snapshots]
    assert {"dropped_arrivals", "cpu_percent"} <= generator.keys()
    assert "Target" in (summary := test.dashboard.charts.summary_source.data)["metric"]
    assert "Latency is" in summary["metric"]
    # a new run empties the table and the markers until its own end
    test.start()
    assert test.dashboard.charts.stats_source.data["name"] == []
    await test.wait()
    assert len(test.dashboard.charts.stats_source.data["name"]) == 2


