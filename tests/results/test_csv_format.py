"""One CSV format: ``loadnb run --out x.csv`` and ``Result.to_csv`` write the same tables with the
same columns, through one writer (:func:`loadnb.results.export.to_csv`). ``x.csv`` holds the
snapshots and every other table beside it (``x_stats.csv``, …, ``x_summary.json``); a folder
holds ``<table>.csv`` and ``summary.json``. The stats table starts with the columns
``x_stats.csv`` has always had (Locust's) and keeps every column ``stats.csv`` had. Runs go to the
demo server on loopback, bounded in time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import loadnb
from loadnb.cli.run import write_out
from loadnb.results.export import CSV_TABLES
from loadnb.results.result import Result

ROOT = Path(__file__).resolve().parents[2]
#: The header of ``x_stats.csv`` (users rely on it): it starts as it always has.
STATS_HEADER = "name,requests,failed,rps,p50_ms,p95_ms,p99_ms,max_ms"
#: Every column the folder's ``stats.csv`` had (``Result.stats``): none is dropped.
STATS_COLUMNS = {"name", "requests", "completed", "failed", "cancelled", "success_rate", "rps",
                 "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "max_ms", "mean_ms",
                 "service_p50_ms", "service_p99_ms", "bytes_received"}


@pytest.fixture(scope="module")
def result(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """A real run with two names, failures, a custom metric and a threshold (1 s, 3 users)."""

    async def journey(user: Any) -> None:
        user.count("cart_items", 1)
        await user.get("/", name="home")
        await user.get("/status/503", name="broken")

    history = tmp_path_factory.mktemp("csv") / "history.sqlite"
    done = loadnb.run(scenario=journey, url=demo_url, users=3, duration="1s", interval="0.25s",
                      thresholds=["errors<1%"], history=str(history))
    assert done.state == "done" and done.summary["failed_requests"] > 0
    return done


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_out_csv_and_to_csv_write_the_same_tables(result: Result, tmp_path: Path) -> None:
    (tmp_path / "cli").mkdir()
    (tmp_path / "api").mkdir()
    write_out(result, tmp_path / "cli" / "x.csv")  # what `loadnb run --out x.csv` does
    assert result.to_csv(tmp_path / "api" / "x.csv") == tmp_path / "api" / "x.csv"
    folder = result.to_csv(tmp_path / "folder")
    beside = ["x.csv", "x_summary.json"] + [f"x_{t}.csv" for t in CSV_TABLES if t != "snapshots"]
    assert sorted(files(tmp_path / "cli")) == sorted(beside)
    assert files(tmp_path / "cli") == files(tmp_path / "api")
    assert sorted(files(folder)) == sorted([f"{t}.csv" for t in CSV_TABLES] + ["summary.json"])
    cli = files(tmp_path / "cli")
    for table in CSV_TABLES:
        name = "x.csv" if table == "snapshots" else f"x_{table}.csv"
        assert files(folder)[f"{table}.csv"] == cli[name], table
    assert files(folder)["summary.json"] == cli["x_summary.json"]
    assert json.loads(cli["x_summary.json"])["run_id"] == result.run_id


def test_the_stats_table_keeps_its_columns_in_both_forms(result: Result, tmp_path: Path) -> None:
    result.to_csv(tmp_path / "x.csv")
    folder = result.to_csv(tmp_path / "folder")
    for path in (tmp_path / "x_stats.csv", folder / "stats.csv"):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith(STATS_HEADER + ","), path
        assert set(lines[0].split(",")) == STATS_COLUMNS, path
        rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
        assert set(rows) == {"home", "broken"}
        assert int(rows["broken"][1]) == int(rows["broken"][2]) > 0  # requests == failed
    snapshots = (tmp_path / "x.csv").read_text(encoding="utf-8").splitlines()
    assert len(snapshots) == len(result.df) + 1


def test_loadnb_run_out_csv_writes_every_table_beside_the_snapshots(demo_url: str,
                                                                     tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOADNB_HISTORY": "off"}
    done = subprocess.run(
        [sys.executable, "-m", "loadnb", "run", demo_url, "-u", "2", "-n", "20", "-q",
         "--out", str(tmp_path / "run.csv")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["run.csv", "run_summary.json"]
                           + [f"run_{t}.csv" for t in CSV_TABLES if t != "snapshots"])
    assert (tmp_path / "run_stats.csv").read_text(encoding="utf-8").startswith(STATS_HEADER)
    assert json.loads((tmp_path / "run_summary.json").read_text())["total_requests"] == 20
