"""The dashboard fits its page: in Voila (real headless Chromium) at 1000 px and 1600 px, no chart
is wider than the widget's output area or the page, on every tab; narrow pages get one chart per
line. Screenshots go to the test's tmp dir (and ``artifacts/screenshots/``).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.jupyter import (
    ARTIFACTS,
    free_port,
    isolated_env,
    server,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]
#: The widget and nothing else: no run is started (the URL is never sent a request).
SOURCE = ("import loadnb\n"
          "test = loadnb.LoadTest('http://127.0.0.1:9/', users=2, duration='5s')\n"
          "test")
#: The tabs and the charts each shows.
TABS = {"Overview": 4, "Latency": 4, "Errors": 2, "Summary": 0, "Generator": 4}
#: Each visible chart's box and the box of the output area holding the widget (CSS px).
BOXES_JS = """() => {
  const out = document.querySelector('.jp-OutputArea-output:has(.widget-button)')
              || document.querySelector('.widget-vbox');
  const area = out.getBoundingClientRect();
  const charts = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('bk-Figure')) {
        const r = el.getBoundingClientRect();
        const shown = el.checkVisibility({visibilityProperty: true, opacityProperty: true});
        if (shown && r.width > 0 && r.height > 0)
          charts.push({x: r.left, right: r.right, width: r.width, y: r.top});
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return {area: {x: area.left, right: area.right, width: area.width},
          page: document.documentElement.clientWidth, charts};
}"""


def _notebook(path: Path) -> Path:
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "widget", "metadata": {},
                   "outputs": [], "source": SOURCE}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_dashboard_charts_fit_the_page_at_1000_and_1600_px(browser: Any, tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    nb = _notebook(tmp_path / "layout.ipynb")
    port = free_port()
    args = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
            "--Voila.ip=127.0.0.1", str(nb)]
    base = f"http://127.0.0.1:{port}"
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with server(args, cwd=tmp_path, env=env, url=f"{base}/voila/static/",
                log=tmp_path / "voila.log"):
        for width in (1000, 1600):
            page = browser.new_page(viewport={"width": width, "height": 1100})
            try:
                page.goto(f"{base}/", timeout=120_000)
                page.locator(".bk-tab", has_text="Overview").first.wait_for(timeout=60_000)
                seen: dict[str, int] = {}
                for tab in TABS:
                    page.locator(".bk-tab", has_text=tab).first.click()
                    # a tab's charts join the page when it is first selected
                    page.wait_for_function(f"() => ({BOXES_JS})().charts.length === {TABS[tab]}",
                                           timeout=30_000)
                    time.sleep(0.4)  # Bokeh lays the tab out
                    boxes = page.evaluate(BOXES_JS)
                    area, charts = boxes["area"], boxes["charts"]
                    assert area["right"] <= boxes["page"] + 1, (width, tab, boxes)
                    for chart in charts:
                        assert chart["width"] <= area["width"] + 1, (width, tab, chart, area)
                        assert chart["x"] >= area["x"] - 1, (width, tab, chart, area)
                        assert chart["right"] <= area["right"] + 1, (width, tab, chart, area)
                    seen[tab] = len(charts)
                    if tab == "Overview":
                        # two charts side by side: both rows of the 2 x 2 grid share a top
                        tops = sorted({round(c["y"]) for c in charts})
                        assert len(tops) == 2 and len(charts) == 4, (width, charts)
                        # ... and as wide as the widget together (stretched, not fixed)
                        first = [c for c in charts if round(c["y"]) == tops[0]]
                        assert sum(c["width"] for c in first) >= 0.9 * area["width"], (
                            width, charts, area)
                        page.screenshot(path=str(tmp_path / f"layout-{width}.png"),
                                        full_page=True)
                        shutil.copy(tmp_path / f"layout-{width}.png",
                                    shots / f"layout-{width}.png")
                assert seen == TABS, (width, seen)
            finally:
                page.close()


def test_a_narrow_page_gets_one_chart_per_line(browser: Any, tmp_path: Path) -> None:
    """Standalone (no Jupyter): the dashboard's Bokeh layout in a 600 px page wraps its rows."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    from loadnb.ui.dashboard import Dashboard

    html = tmp_path / "dashboard.html"
    html.write_text(file_html(Dashboard().layout, INLINE, "dashboard"))
    page = browser.new_page(viewport={"width": 600, "height": 1100})
    try:
        page.goto(html.as_uri())
        page.locator(".bk-tab", has_text="Overview").first.wait_for(timeout=30_000)
        time.sleep(0.5)
        boxes = page.evaluate(BOXES_JS.replace(
            "document.querySelector('.jp-OutputArea-output:has(.widget-button)')\n"
            "              || document.querySelector('.widget-vbox')", "document.body"))
        charts = boxes["charts"]
        assert charts and all(c["right"] <= 601 for c in charts), boxes
        overview = [c for c in charts if c["width"] > 0][:4]
        assert len({round(c["x"]) for c in overview}) == 1, overview  # one column
    finally:
        page.close()
