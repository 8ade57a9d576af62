"""Every notebook in notebooks/ runs top to bottom, headless (nbclient), with no error output.

The kernel is this interpreter (a temporary ``python3`` kernelspec pointing at
``sys.executable``), so the venv's ipykernel and the checkout's loadnb are what run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests.bundles import source_column, source_rows
from tests.nginx import find_nginx

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 120
#: The most an executed notebook (written with ``nbformat.write``) may weigh, in bytes. BokehJS is
#: in the file once, compressed (about 0.75 MB): the quickstart is about 1 MB. 05 and 07 show
#: Bokeh figures with Bokeh's own ``output_notebook`` (BokehJS twice, uncompressed: about 8 MB).
MAX_BYTES = {"01-quickstart": 1_500_000, "03-analysis": 100_000}
DEFAULT_MAX_BYTES = 1_500_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kernelspec directory whose ``python3`` runs this interpreter."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / "python3"
    spec.mkdir()
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (loadnb tests)", "language": "python"}))
    return str(root)


def execute(path: Path, kernel_dirs: str, cwd: Path) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` in a fresh kernel; return it with outputs and widget state."""
    nb: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    km = KernelManager(kernel_name="python3",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernel_dirs]))
    assert km.kernel_spec is not None and km.kernel_spec.argv[0] == sys.executable
    NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(cwd)}}).execute(cleanup_kc=True)
    return nb


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Error outputs and tracebacks on stderr, as ``cell N: text`` lines."""
    found = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"cell {index}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr" and (
                    "Traceback" in out.text or "Error" in out.text):
                found.append(f"cell {index}: stderr: {out.text[:500]}")
    return found


def widget_states(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """The saved ipywidgets state (one dict per model, with ``model_name`` and ``state``)."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return list(state.get("state", {}).values())


def overview_rows(render_bundle: Any) -> int:
    """Rows of the dashboard's Overview source inside a saved BokehModel ``render_bundle``."""
    return source_rows(render_bundle, "target_users")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_clean(path: Path, kernel_dirs: str, tmp_path: Path) -> None:
    nb = execute(path, kernel_dirs, tmp_path)
    assert problems(nb) == []
    saved = tmp_path / path.name
    nbformat.write(nb, saved)  # type: ignore[no-untyped-call]
    size = saved.stat().st_size
    assert size < MAX_BYTES.get(path.stem, DEFAULT_MAX_BYTES), f"{path.name}: {size:,} bytes"
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    if path.stem == "01-quickstart":
        check_saved_widget_state(nb)
    if path.stem == "02-scenarios":
        check_scenarios_notebook(nb)
    if path.stem == "04-alerts-and-thresholds":
        check_judge_notebook(nb)
    if path.stem == "06-scale-out":
        check_scale_out_notebook(nb)
    if path.stem == "08-protocols":
        check_protocols_notebook(nb)


def check_saved_widget_state(nb: nbformat.NotebookNode) -> None:
    """The saved notebook shows the final numbers and the whole chart (re-sent at the end)."""
    states = widget_states(nb)
    html = [s["state"].get("value", "") for s in states if s["model_name"] == "HTMLModel"]
    line = next(v for v in html if "Completed:" in v)
    match = re.search(r"Done 100\.0% \| Active: \d+ \| RPS: [\d,.]+ \| Success: [\d.]+% \| "
                      r"Completed: ([\d,]+)", line)
    assert match, line
    summary = next(c for c in nb.cells if c.cell_type == "code" and c.source == "test.summary")
    completed = re.search(r"'completed_requests': (\d+)", summary.outputs[0].data["text/plain"])
    assert completed and match.group(1).replace(",", "") == completed.group(1)
    progress = [s["state"] for s in states if s["model_name"] == "FloatProgressModel"]
    assert progress and progress[0]["value"] == 100.0
    charts = [s["state"] for s in states if s["model_name"] == "BokehModel"]
    assert len(charts) == 1
    describe = next(c for c in nb.cells if c.cell_type == "code" and "describe()" in c.source)
    count = re.search(r"count\s+([\d.]+)", describe.outputs[0].data["text/plain"])
    assert count and overview_rows(charts[0]["render_bundle"]) == int(float(count.group(1)))


def output_text(nb: nbformat.NotebookNode, source_start: str) -> str:
    """The plain-text output of the code cell whose source starts with ``source_start``."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source_start))
    return "".join(o.get("data", {}).get("text/plain", o.get("text", "")) for o in cell.outputs)


def check_scenarios_notebook(nb: nbformat.NotebookNode) -> None:
    """The journey's statistics are per request name, the plan and the live change were saved."""
    stats = output_text(nb, "test.stats")
    assert all(name in stats for name in ("POST /api/items", "GET /api/items", "/api/items/{id}"))
    assert output_text(nb, "test.errors").startswith("Empty DataFrame")  # every check passed
    assert "set to 60 req/s" in output_text(nb, "test2.start()")
    charts = [s["state"]["render_bundle"] for s in widget_states(nb)
              if s["model_name"] == "BokehModel"]
    assert len(charts) == 2
    plans = [source_column(c, "plan") for c in charts]
    assert sorted(max(p) for p in plans if p) == [5.0, 20.0]  # 5 users at most; 20 req/s
    assert all(p is not None and len(p) == 200 for p in plans)
    events = [source_column(c, "event") for c in charts]
    assert sorted(map(str, events)) == ["['set to 60 req/s']", "[]"]
    html = [s["state"].get("value", "") for s in widget_states(nb)
            if s["model_name"] == "HTMLModel"]
    # The live change is no shortfall: no Low RPS alert against the new rate. (A starved kernel
    # on a busy machine may honestly fall short of the first rate for an interval.)
    assert not [v for v in html if "Low RPS" in v and "target 60" in v]


def check_judge_notebook(nb: nbformat.NotebookNode) -> None:
    """The thresholds were judged (the deliberate one failed), the per-name alert fired and the
    custom metrics were recorded."""
    table = output_text(nb, "import pandas as pd")
    rows = {line.split()[1]: line.split()[-1] for line in table.splitlines()[1:] if line.strip()}
    assert rows["errors<1%"] == "True" and rows["checkout.p95<1s"] == "True", table
    assert rows["p99[GET"] == "False", table  # the name has a space: split at it
    assert "p95[GET /checkout]<5ms" in output_text(nb, "result.alerts")
    assert "checkout" in output_text(nb, "result.custom.head()")
    assert "'cart_items'" in output_text(nb, "{name:")


def check_scale_out_notebook(nb: nbformat.NotebookNode) -> None:
    """Two runs on one kept cluster of 2 workers (closed after the block), the per-worker view
    with both workers, and the workers' requests adding up to the run's."""
    kept = output_text(nb, "async with loadnb.cluster")
    assert re.search(r"first: done, [\d,]+ requests from 2 workers", kept), kept
    assert re.search(r"second: done, [\d,]+ requests from 2 workers", kept), kept
    assert kept.rstrip().endswith("<loadnb cluster: 2 workers, closed>"), kept
    per_worker = output_text(nb, "w.groupby")
    assert len([line for line in per_worker.splitlines()[2:] if line.strip()]) == 2, per_worker
    assert output_text(nb, 'int(w["requests"].sum())').strip() == "True"


def check_protocols_notebook(nb: nbformat.NotebookNode) -> None:
    """Both HTTP versions ran clean against the same nginx the notebook started (the toy server
    only without nginx), HTTP/2 multiplexed on fewer connections; a scenario's named request ran
    over h2c there; nginx was stopped; and the chat's every message came back with its
    thresholds held."""
    server = "nginx" if find_nginx() else "toy"
    started = output_text(nb, "import asyncio")
    pid = re.search(r"nginx/[\d.]+ \(pid (\d+)\): HTTP/1\.1 on http://127\.0\.0\.1:\d+/, "
                    r"h2c on http://127\.0\.0\.1:\d+/", started)
    assert (pid is not None) == (server == "nginx"), started
    if pid:  # stopped by the last cell: gone, or its number reused by another program
        assert not psutil.pid_exists(int(pid.group(1))) or "nginx" not in " ".join(
            psutil.Process(int(pid.group(1))).cmdline()), started
    table = output_text(nb, "runs = {}")
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:] if line.strip()}
    assert rows["server"] == [server, server], table
    assert rows["protocol"] == ["http/1.1", "h2c"] and rows["failed"] == ["0", "0"], table
    assert rows["client"] == ["fast", "h2"] and all(int(n) > 0 for n in rows["requests"]), table
    assert rows["connections"] == ["20", "2"], table
    scenario = output_text(nb, "async def visit")
    assert "'protocol': 'h2c'" in scenario and "'connections': 1," in scenario, scenario
    passes = re.search(r"'says ok': \{'passes': (\d+), 'fails': 0\}", scenario)
    home = re.search(r"^home\s+(\d+)\s+0\s", scenario, re.MULTILINE)  # requests, failed
    assert passes and home and int(passes.group(1)) == int(home.group(1)) > 0, scenario
    echo = output_text(nb, "demo = await")
    sent, received = (re.search(rf"'{key}': (\d+)", echo) for key in ("sent", "received"))
    assert sent and received and int(sent.group(1)) == int(received.group(1)) > 0, echo
    assert re.search(r"'failed': 0\b", echo), echo
    judged = output_text(nb, "[(t[")
    assert judged.count("True") == 2 and "False" not in judged, judged


def test_bokehjs_loader_inflates_to_bokehs_own_loader(tmp_path: Path) -> None:
    """The compressed loader runs (in Node, as in a page) exactly Bokeh's inline loader, and is
    under 0.8 MB (Bokeh's own ``output_notebook`` sends about 2 MB, twice)."""
    import shutil
    import subprocess

    from bokeh.core.templates import AUTOLOAD_NB_JS
    from bokeh.embed.bundle import bundle_for_objs_and_resources
    from bokeh.resources import Resources

    from loadnb.charts.bokehjs import bokehjs_loader

    node = shutil.which("node")
    if node is None:
        pytest.skip("no node to run the loader")
    loader = bokehjs_loader()
    assert len(loader) < 800_000
    resources = Resources(mode="inline", components=["bokeh", "bokeh-widgets", "bokeh-tables"])
    expected = AUTOLOAD_NB_JS.render(bundle=bundle_for_objs_and_resources(None, resources),
                                     elementid=None, force=True, timeout=5000, register_mime=True)
    out = tmp_path / "ran.js"
    script = tmp_path / "load.js"
    script.write_text("globalThis.atob = (s) => Buffer.from(s, 'base64').toString('binary');\n"
                      "let ran = null;\nglobalThis.eval = (code) => { ran = code; };\n" + loader
                      + f"require('fs').writeFileSync({json.dumps(str(out))}, ran);\n")
    subprocess.run([node, str(script)], check=True, timeout=60)
    assert out.read_text() == expected
