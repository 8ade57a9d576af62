"""The start-up CPU (issue 25) survives the history and the exports: a run loaded back gives the
live run's ``startup_cpu_s``; a history or an export written before it loads with None."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import loadnb
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.doubles import MockTransport

FIXTURES = Path(__file__).parents[1] / "fixtures"


async def test_the_startup_cpu_survives_the_history_and_the_exports(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    transport = MockTransport(delay=0.001)
    run = Run(make_spec("http://127.0.0.1:9/", users=1, requests=5, history=str(path)),
              transport=lambda options: transport, cpu_from=0.0)  # the process's CPU: not 0
    live = await asyncio.wait_for(run.run(), 30)
    cpu = live.summary["startup_cpu_s"]
    assert cpu is not None and cpu > 0
    assert loadnb.load(live.run_id, path).summary["startup_cpu_s"] == cpu
    for suffix in ("json", "parquet"):
        exported = live.to_json(tmp_path / "run.json") if suffix == "json" else \
            live.to_parquet(tmp_path / "run.parquet")
        assert loadnb.load(str(exported)).summary["startup_cpu_s"] == cpu, suffix


def test_runs_stored_before_it_load_with_none(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "stored-run.sqlite", tmp_path / "v3.sqlite")
    shutil.copy(FIXTURES / "history-v1.sqlite", tmp_path / "v1.sqlite")
    loaded = [loadnb.load("last", tmp_path / "v3.sqlite"),
              loadnb.load("last", tmp_path / "v1.sqlite"),
              loadnb.load(str(FIXTURES / "stored-run.json")),
              loadnb.load(str(FIXTURES / "stored-run.parquet")),
              loadnb.load(str(FIXTURES / "export-r1.json"))]
    assert [r.summary["startup_cpu_s"] for r in loaded] == [None] * 5
