"""Scale-out with what a terminal user brings (issue 20, items 1 and 4): a ``--scenario`` file
that is on no worker's ``sys.path`` reaches the workers, on a ``LocalCluster`` and on an external
``dask scheduler`` + ``dask worker`` cluster; a run whose generator could send nothing (every
worker lost, the file failing on the workers) fails, with one line and exit status 1. (That a
cluster's start-up is not counted as load: tests/distributed/test_distributed.py.)

Every test here starts real worker processes (``slow``), counts against the demo server, and
stops what it started with bounded waits.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.dask_cluster import external_cluster, loadnb_cli, reset_stats, server_stats

__all__ = ["external_cluster"]  # a fixture of this module

pytestmark = pytest.mark.slow

JOURNEYS = """
    import dataclasses

    @dataclasses.dataclass
    class Pick:              # a class of the file's own, used by the tasks on the workers
        path: str

    ITEMS = Pick("/api/items")

    async def browse(user):
        await user.get(ITEMS.path, name="items")

    async def home(user):
        await user.get("/", name="home")

    mix = {browse: 3, home: 1}
"""


def scenario_file(tmp_path: Path, text: str, name: str = "journeys.py") -> Path:
    """``text`` as a file in a folder of its own (on nobody's ``sys.path``)."""
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def check_counted(out: Any, demo_url: str) -> dict[str, Any]:
    """The run succeeded and counted exactly what the demo server saw, per name too."""
    assert out.returncode == 0, out.stderr[-3000:]
    summary: dict[str, Any] = json.loads(out.stdout)
    seen = server_stats(demo_url)
    assert summary["state"] == "done" and summary["workers"] == 2
    assert summary["workers_lost"] == 0, summary["warnings"]
    assert summary["total_requests"] == seen["requests"] > 0, (summary["total_requests"], seen)
    by_name = {row["name"]: row["requests"] for row in summary["stats"]}
    assert by_name == {"items": seen["by_path"]["/api/items"], "home": seen["by_path"]["/"]}
    return summary


def test_a_scenario_file_runs_on_local_workers(demo_url: str, tmp_path: Path) -> None:
    path = scenario_file(tmp_path, JOURNEYS)
    reset_stats(demo_url)
    out = loadnb_cli("run", demo_url, "--scenario", f"{path}:mix", "--workers", "2", "-u", "4",
                     "-d", "2s", "--json", "--no-history", "--quiet", cwd=tmp_path / "driver")
    check_counted(out, demo_url)


def test_a_scenario_file_runs_on_an_external_cluster(
        external_cluster: str, demo_url: str, tmp_path: Path) -> None:
    path = scenario_file(tmp_path, JOURNEYS)
    reset_stats(demo_url)
    out = loadnb_cli("run", demo_url, "--scenario", f"{path}:mix", "--cluster",
                     external_cluster, "-u", "4", "-d", "2s", "--json", "--no-history",
                     "--quiet", cwd=tmp_path / "driver")
    check_counted(out, demo_url)
    # a second run of an edited file on the same workers runs the new text
    path.write_text(textwrap.dedent(JOURNEYS).replace('"/api/items"', '"/api/items?v=2"'))
    reset_stats(demo_url)
    again = loadnb_cli("run", demo_url, "--scenario", f"{path}:mix", "--cluster",
                       external_cluster, "-u", "2", "-d", "1s", "--json", "--no-history",
                       "--quiet", cwd=tmp_path / "driver")
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout)
    assert summary["total_requests"] == server_stats(demo_url)["requests"] > 0


def one_line_failure(out: Any) -> str:
    """Exit status 1, the state ``failed``, no traceback; the last line says why."""
    assert out.returncode == 1, (out.returncode, out.stderr[-3000:])
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    assert summary["state"] == "failed" and summary["error"], summary
    last: str = out.stderr.strip().splitlines()[-1]
    assert last.startswith("loadnb: error: the run failed: "), out.stderr[-3000:]
    return last


def test_every_worker_lost_is_a_failed_run(demo_url: str, tmp_path: Path) -> None:
    path = scenario_file(tmp_path, """
        import os
        import signal

        async def crash(user):   # each worker process kills itself at its first iteration
            os.kill(os.getpid(), signal.SIGKILL)
    """, "crash.py")
    reset_stats(demo_url)
    out = loadnb_cli("run", demo_url, "--scenario", f"{path}:crash", "--workers", "2", "-u", "2",
                     "-d", "5s", "--json", "--no-history", cwd=tmp_path / "driver")
    last = one_line_failure(out)
    assert "every worker was lost" in last, last
    assert server_stats(demo_url)["requests"] == 0


def test_a_file_that_fails_on_the_workers_fails_the_run(demo_url: str, tmp_path: Path) -> None:
    path = scenario_file(tmp_path, """
        import multiprocessing

        if multiprocessing.parent_process() is not None:  # true in a worker, not in the CLI
            raise RuntimeError("only on the driver")

        async def home(user):
            await user.get("/")
    """, "driver_only.py")
    reset_stats(demo_url)
    out = loadnb_cli("run", demo_url, "--scenario", f"{path}:home", "--workers", "2", "-u", "2",
                     "-d", "5s", "--json", "--no-history", cwd=tmp_path / "driver")
    last = one_line_failure(out)
    assert "driver_only.py" in last and "RuntimeError: only on the driver" in last, last
    assert server_stats(demo_url)["requests"] == 0
