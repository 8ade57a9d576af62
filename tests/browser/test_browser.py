"""The quickstart in a real browser: JupyterLab and Voila, driven by Debian's headless Chromium.

What a person would see is checked through the page itself: the Bokeh documents' point counts grow
while a run streams and stop growing after Stop, no cell shows a traceback, and the kernel-side
sources hold exactly one row per snapshot (the browser's echo is ignored). Screenshots go to
``artifacts/screenshots/``. Also measured: how long a trivial cell takes while a run streams.
"""

from __future__ import annotations

import json
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests.browser.jupyter import (
    ARTIFACTS,
    copy_notebooks,
    free_port,
    isolated_env,
    server,
)

pytestmark = pytest.mark.slow
SHOTS = ARTIFACTS / "screenshots"
#: Rows of the page's Bokeh sources, found by a column only that source has (the largest of each
#: kind): the streamed dashboard sources, the plan line and the live-change markers.
POINTS_JS = """() => {
  const kinds = {overview: 'target_users', latency: 'p90_ms', errors: 'kind0',
                 timeline: 'failed_requests', generator: 'loop_lag_ms', plan: 'plan',
                 events: 'event'};
  const out = {};
  for (const name of Object.keys(kinds)) out[name] = -1;
  if (!window.Bokeh || !window.Bokeh.documents) return out;
  for (const doc of window.Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      if (m.type !== 'ColumnDataSource') continue;
      const data = m.data;
      const get = (k) => data instanceof Map ? data.get(k) : data[k];
      for (const [name, key] of Object.entries(kinds)) {
        const column = get(key);
        if (column !== undefined) out[name] = Math.max(out[name], column.length);
      }
    }
  }
  return out;
}"""
#: The streamed sources (one row per snapshot); the others are the plan and the markers.
STREAMED = ("overview", "latency", "errors", "timeline", "generator")
KERNEL_IDLE_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""
RUN_ALL_JS = """() => {
  window.jupyterapp.commands.execute('notebook:run-all-cells');  // not awaited: returns at once
  return null;
}"""
#: Code cells of the open notebook: executed yet, and any error or stderr traceback outputs.
CELLS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  const out = {pending: 0, problems: []};
  for (const cell of nb.model.cells) {
    if (cell.type !== 'code') continue;
    if (cell.executionCount === null) out.pending += 1;
    for (const o of cell.toJSON().outputs) {
      const text = Array.isArray(o.text) ? o.text.join('') : (o.text || '');
      if (o.output_type === 'error') out.problems.push(o.ename + ': ' + o.evalue);
      if (o.output_type === 'stream' && o.name === 'stderr' && /Traceback|Error/.test(text))
        out.problems.push(text.slice(0, 300));
    }
  }
  return out;
}"""
#: Run code in the notebook's kernel (beside the notebook): its printed output and round trip.
KERNEL_EXEC_JS = """async (code) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const t0 = performance.now();
  const future = k.requestExecute({code, silent: false, store_history: false});
  let out = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'execute_result') out += msg.content.data['text/plain'];
  };
  await future.done;
  return {out, ms: performance.now() - t0};
}"""
#: Append a code cell to the open notebook and run it (without waiting for it).
ADD_AND_RUN_CELL_JS = """(source) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const nb = panel.content;
  const index = nb.model.cells.length;
  nb.model.sharedModel.insertCell(index, {cell_type: 'code', source});
  nb.activeCellIndex = index;
  window.jupyterapp.commands.execute('notebook:run-cell');
  return null;
}"""
KERNEL_CHECK = """import json
print(json.dumps({"snapshots": [len(r.snapshots) for r in test.results],
                  "kernel": {k: len(s.data["elapsed_time"])
                             for k, s in test.dashboard.sources.items()},
                  "echoes_ignored": test.chart.echoes_ignored, "state": test.state}))"""


LIVE_CHECK = """import json
print(json.dumps({"users": test.controls.users.value,
                  "events": "; ".join(e for e in test.df["event"] if e)}))"""


def kernel_live(page: Any, users: int, timeout: float = 10.0) -> dict[str, Any]:
    """The kernel's users slider and the run's events, once the slider reads ``users`` (every key
    press has reached the kernel: a loaded page lags) or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        live: dict[str, Any] = json.loads(page.evaluate(KERNEL_EXEC_JS, LIVE_CHECK)["out"])
        if live["users"] == users or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


@pytest.fixture(scope="module")
def browser(browser: Any) -> Any:
    """The session's Chromium (tests/conftest.py), with the screenshot folder made."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return browser


def points(page: Any) -> dict[str, int]:
    """Rows per dashboard source in the page's Bokeh documents (-1: none on the page)."""
    counts: dict[str, int] = page.evaluate(POINTS_JS)
    return counts


def streamed(page: Any) -> dict[str, int]:
    """Rows of the streamed dashboard sources in the page."""
    return {k: v for k, v in points(page).items() if k in STREAMED}


def wait_points(page: Any, source: str, at_least: int, timeout: float = 60.0) -> int:
    """Wait until ``source`` has ``at_least`` rows in the page; return the count."""
    page.wait_for_function(f"() => ({POINTS_JS})()[{json.dumps(source)}] >= {at_least}",
                           timeout=timeout * 1000)
    return points(page)[source]


def assert_grows(page: Any, source: str = "overview", seconds: float = 10.0) -> tuple[int, int]:
    """Wait until ``source`` gains a row (``seconds``: a bound that only catches a stall)."""
    before = wait_points(page, source, 1)
    return before, wait_points(page, source, before + 1, timeout=seconds)


def assert_stopped(page: Any, source: str = "overview", seconds: float = 1.5) -> int:
    page.get_by_text("Stopped after").first.wait_for(timeout=10_000)
    before = points(page)[source]
    time.sleep(seconds)
    assert points(page)[source] == before, "the chart kept growing after Stop"
    return before


def click(page: Any, text: str) -> None:
    page.locator(".widget-button", has_text=text).first.click()


def shoot(page: Any, name: str) -> Path:
    """A screenshot of the LoadTest widget (the output holding its buttons)."""
    path = SHOTS / f"{name}.png"
    widget = page.locator(".jp-OutputArea-output:has(.widget-button)").first
    if widget.count():
        widget.scroll_into_view_if_needed()
        widget.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


def watch_live_run(page: Any, source: str = "overview", timeout: float = 60.0) -> list[int]:
    """Sample ``source``'s point count until the run's final status shows; return the counts."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(points(page)[source])
        if page.get_by_text("Done after").count() or page.get_by_text("Stopped after").count():
            seen.append(points(page)[source])
            return seen
        time.sleep(0.25)
    raise AssertionError(f"the run did not end within {timeout} s: {seen}")


@pytest.mark.browser
def test_lab_quickstart_streams_live_stops_and_keeps_the_kernel_responsive(
        browser: Any, tmp_path: Path) -> None:
    env, nb = isolated_env(tmp_path), copy_notebooks(tmp_path / "notebooks")
    port, token = free_port(), secrets.token_hex(16)
    args = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", f"--ServerApp.token={token}", "--LabApp.expose_app_in_browser=True",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", f"--ServerApp.root_dir={nb}"]
    base = f"http://127.0.0.1:{port}"
    with server(args, cwd=nb, env=env, url=f"{base}/api/status?token={token}",
                log=tmp_path / "lab.log"):
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page_errors: list[str] = []
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        page.goto(f"{base}/lab/tree/01-quickstart.ipynb?token={token}", timeout=90_000)
        page.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)

        # 1. Run All: the notebook's run streams into the page while it goes on
        page.evaluate(RUN_ALL_JS)
        wait_points(page, "overview", 0)  # the chart is on the page (the run may not be)
        seen = watch_live_run(page)
        growth = sorted({c for c in seen if c > 0})
        assert seen == sorted(seen) and len(growth) >= 3, f"no live growth seen: {seen}"
        page.wait_for_function("() => (" + CELLS_JS + ")().pending === 0", timeout=90_000)
        cells = page.evaluate(CELLS_JS)
        assert cells["problems"] == [], cells["problems"]
        check = kernel_check(page)
        n = check["snapshots"][0]
        assert check["kernel"] == dict.fromkeys(check["kernel"], n)  # one row per snapshot
        assert check["echoes_ignored"] > 0  # the browser did echo, and it was dropped
        assert set(check["kernel"]) == set(STREAMED)
        assert streamed(page) == dict.fromkeys(STREAMED, n)
        assert points(page)["plan"] == 200  # the planned load, drawn dashed under the run
        shoot(page, "lab-2-done")

        # 2. Start from the widget (no cell running): live; trivial cells stay fast; Stop stops.
        # Runs from here on last 30 s (so the checks never race the end); Stop ends them.
        page.evaluate(KERNEL_EXEC_JS, "test.controls.duration.value = 30")
        click(page, "Start")
        page.wait_for_function(f"() => ({POINTS_JS})().overview < {n}", timeout=15_000)
        assert_grows(page)
        rtts = [page.evaluate(KERNEL_EXEC_JS, "1 + 1")["ms"] for _ in range(8)]
        # a live change from the users slider (keyboard on its handle: what a drag does too)
        assert points(page)["events"] == 0
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.focus()
        for _ in range(5):
            handle.press("ArrowRight")
        page.wait_for_function(f"() => ({POINTS_JS})().events >= 1", timeout=10_000)
        live = kernel_live(page, users=15)
        assert live["users"] == 15 and "set to" in live["events"], live
        time.sleep(1.2)  # the users follow within an interval
        shoot(page, "lab-1-live")
        assert_grows(page)  # still streaming after the measurement
        click(page, "Stop")
        assert_stopped(page)
        shoot(page, "lab-3-stopped")

        # 3. A cell awaiting `test.run()`: widget messages (tab change, Stop) are handled
        stopped = points(page)["overview"]
        page.evaluate(ADD_AND_RUN_CELL_JS, "third = await test.run()")
        page.wait_for_function(f"() => ({POINTS_JS})().overview < {stopped}", timeout=15_000)
        assert_grows(page)
        page.locator(".bk-tab", has_text="Latency").first.click()
        wait_points(page, "latency", points(page)["overview"], timeout=10)  # caught up
        assert_grows(page, "latency")
        shoot(page, "lab-4-latency-tab")
        click(page, "Stop")
        assert_stopped(page, "latency")
        page.wait_for_function("() => (" + CELLS_JS + ")().pending === 0", timeout=30_000)
        assert page.evaluate(CELLS_JS)["problems"] == []
        check = kernel_check(page)
        # Stop was pressed: the run is "stopped" (one vocabulary of states, README Notes)
        assert len(check["snapshots"]) == 3 and check["state"] == "stopped"
        assert check["kernel"] == dict.fromkeys(check["kernel"], check["snapshots"][2])
        page.locator(".bk-tab", has_text="Summary").first.click()
        time.sleep(0.5)
        shoot(page, "lab-5-summary-tab")
        assert not [e for e in page_errors if "bokeh" in e.lower() or "widget" in e.lower()]
    _record("lab_trivial_cell_ms", rtts)
    # Measured and recorded; a shared machine's hiccup may stretch one of them: the median is
    # held to 1 s (a few ms idle; a widget that blocks the loop would hold most of them) and
    # every one to 5 s (a kernel the run blocked would answer only when the 30 s run ends).
    assert statistics.median(rtts) < 1000 and max(rtts) < 5000, f"trivial cells took {rtts} ms"


def append_cell(path: Path, source: str) -> None:
    """Append a code cell to the notebook at ``path``."""
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "appended",
                        "metadata": {}, "outputs": [], "source": source})
    path.write_text(json.dumps(nb))


def kernel_check(page: Any) -> dict[str, Any]:
    """Snapshot and source row counts, as the notebook's kernel sees them."""
    result: dict[str, Any] = json.loads(page.evaluate(KERNEL_EXEC_JS, KERNEL_CHECK)["out"])
    return result


@pytest.mark.browser
def test_voila_quickstart_shows_the_final_run_then_streams_a_new_one(
        browser: Any, tmp_path: Path) -> None:
    env, nb = isolated_env(tmp_path), copy_notebooks(tmp_path / "notebooks")
    # The runs started from the page last 30 s (so the checks never race their end; Stop ends
    # them): one cell appended to the copy, after every cell of the quickstart as written.
    append_cell(nb / "01-quickstart.ipynb", "test.controls.duration.value = 30")
    port = free_port()
    args = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
            "--Voila.ip=127.0.0.1", str(nb / "01-quickstart.ipynb")]
    base = f"http://127.0.0.1:{port}"
    with server(args, cwd=nb, env=env, url=f"{base}/voila/static/", log=tmp_path / "voila.log"):
        page = browser.new_page(viewport={"width": 1300, "height": 1300})
        page.goto(f"{base}/", timeout=120_000)  # Voila runs the whole notebook first
        final = wait_points(page, "overview", 4)  # the finished run, re-sent at its end
        page.get_by_text("Done after").first.wait_for(timeout=10_000)
        assert "Traceback" not in page.inner_text("body")
        shoot(page, "voila-1-final")
        click(page, "Start")
        page.wait_for_function(f"() => ({POINTS_JS})().overview < {final}", timeout=10_000)
        assert_grows(page)
        shoot(page, "voila-2-live")
        click(page, "Stop")
        assert_stopped(page)
        assert "Traceback" not in page.inner_text("body")


def test_kernel_stays_responsive_while_a_run_streams(tmp_path: Path) -> None:
    """A trivial cell's round trip while the widget streams (kernel only, no browser)."""
    kernels = tmp_path / "kernels"
    isolated = isolated_env(tmp_path)
    spec_dir = Path(isolated["JUPYTER_DATA_DIR"]) / "kernels"
    km = KernelManager(kernel_name="python3",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir)]))
    km.start_kernel(cwd=str(kernels.parent))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        setup = ("import loadnb\nurl = await loadnb.demo.start()\n"
                 "test = loadnb.LoadTest(url, users=10, duration='6s')\n"
                 "display(test)\ntest.start()")
        reply = kc.execute_interactive(setup, timeout=60, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok"
        rtts, states = [], []
        for _ in range(10):
            started = time.perf_counter()
            reply = kc.execute_interactive("test.state", timeout=10,
                                           output_hook=lambda msg: states.append(msg))
            rtts.append((time.perf_counter() - started) * 1000)
            assert reply["content"]["status"] == "ok"
            time.sleep(0.3)
        shown = [m["content"]["data"]["text/plain"] for m in states
                 if m["header"]["msg_type"] == "execute_result"]
        assert shown.count("'running'") >= 8, shown  # measured while the run streamed
        done = kc.execute_interactive("r = await test.wait()\nassert r.state == 'done'",
                                      timeout=30)
        assert done["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    _record("kernel_trivial_cell_ms", rtts)
    # Measured and recorded; the cells answered 'running' while the 6 s run streamed (above).
    # A hiccup may stretch one: the median is held to 1 s (a few ms idle; a widget that blocks
    # the loop would hold most of them), every one to 5 s (a blocked kernel: after the run).
    assert statistics.median(rtts) < 1000 and max(rtts) < 5000, f"trivial cells took {rtts} ms"


def _record(name: str, values: list[float]) -> None:
    """Keep a measurement in artifacts/responsiveness.json (and print it with -s)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "responsiveness.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {"median": round(statistics.median(values), 1),
                  "max": round(max(values), 1), "all": [round(v, 1) for v in values]}
    path.write_text(json.dumps(data, indent=2))
    print(f"{name}: median {data[name]['median']} ms, max {data[name]['max']} ms")
