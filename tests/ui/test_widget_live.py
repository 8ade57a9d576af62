"""The LoadTest widget during a run: live users and rate changes, and what the charts show."""

from __future__ import annotations

from typing import Any

import pytest

from loadnb.runner.run import Run
from loadnb.ui import LoadTest
from loadnb.ui.controls import LIVE_DEBOUNCE
from loadnb.ui.figures import title_of
from tests.conftest import until
from tests.ui.widget_helpers import FAST, journey


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
