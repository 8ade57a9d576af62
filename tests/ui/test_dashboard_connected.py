"""The ``connected`` series (open WebSocket/SSE connections, issue 22) beside the active users:
drawn once a run has streams, hidden for a run without (which looks as before). Snapshots are
fed to the dashboard; what is drawn is read from the chart's data source and renderers."""

from __future__ import annotations

from loadnb.spec.config import make_spec
from loadnb.ui.dashboard import Dashboard
from tests.ui.widget_helpers import snap

SPEC = make_spec("http://127.0.0.1:9/", users=4, duration="3s")


def shown(dash: Dashboard) -> bool:
    line, item = dash.charts.connected
    assert line.visible == item.visible
    return bool(line.visible)


def test_connected_is_drawn_beside_active_users_once_a_run_has_streams() -> None:
    dash = Dashboard()
    dash.reset(SPEC)
    dash.update(snap(elapsed_time=0.5, active_users=4, connected=0))
    assert not shown(dash)  # nothing open yet: the chart is as before
    dash.update(snap(elapsed_time=1.0, active_users=4, connected=3))
    dash.update(snap(elapsed_time=1.5, active_users=4, connected=4))
    source = dash.sources["overview"]
    assert source.data["connected"] == [0, 3, 4]
    assert source.data["active_users"] == [4, 4, 4]
    assert shown(dash)
    line, _ = dash.charts.connected
    assert line.data_source is source and line.glyph.y == "connected"
    dash.reset(SPEC)  # a new run hides it again until it has streams
    assert not shown(dash) and source.data["connected"] == []


def test_a_run_without_streams_never_shows_the_line() -> None:
    dash = Dashboard()
    dash.reset(SPEC)
    for i in range(1, 5):
        dash.update(snap(elapsed_time=0.5 * i, connected=0))
    assert not shown(dash)
    assert dash.sources["overview"].data["connected"] == [0, 0, 0, 0]

