"""The dashboard's tabs join the page as they are needed: the first tab's charts at once, another
tab's when it is first selected, all of them at the end of a run (a saved notebook holds every
chart). The browser builds a view for every chart in the page, hidden tabs' too: fewer charts
at first is a page that shows sooner (measured in tests/app/test_app.py)."""

from __future__ import annotations

from bokeh.document import Document
from bokeh.models import Plot, TabPanel

from loadnb.ui.charts import TABS
from loadnb.ui.dashboard import Dashboard
from tests.charts.test_charts_readable import _run


def _plots_in(doc: Document) -> int:
    return sum(isinstance(m, Plot) for m in doc.models)


def test_only_the_first_tab_is_in_the_page_until_another_is_selected() -> None:
    dash = Dashboard()
    doc = Document()
    doc.add_root(dash.layout)
    first = _plots_in(doc)
    assert first == 4  # Overview: throughput, success, users, progress
    assert sorted(dash.charts.unattached) == list(range(1, len(TABS)))
    placeholder = dash.layout.tabs[1]
    dash.layout.active = 1  # Latency selected
    assert _plots_in(doc) == first + 4 and 1 not in dash.charts.unattached
    panel = dash.layout.tabs[1]
    assert isinstance(panel, TabPanel) and panel.title == "Latency"
    assert dash.charts.latency_figures[0] in panel.child.references()
    assert panel is not placeholder  # a new panel: BokehJS rebuilds a Tabs' views on that only
    dash.layout.active = 0
    dash.layout.active = 1  # once in, it stays
    assert _plots_in(doc) == first + 4


def test_every_tab_is_in_the_page_at_the_end_of_a_run() -> None:
    run = _run()
    dash = Dashboard()
    doc = Document()
    doc.add_root(dash.layout)
    dash.reset(run.spec)
    for snap in run.snapshots:
        dash.update(snap)
    assert dash.charts.unattached  # a run streams into the tab on screen only
    dash.finish(run)
    assert dash.charts.unattached == {}
    generator = dash.sources["generator"]
    assert generator.document is doc and len(generator.data["elapsed_time"]) == len(run.snapshots)
