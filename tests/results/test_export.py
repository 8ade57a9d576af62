"""Exports (loadnb.results.export): JSON, Parquet and CSV of a real run, loaded back exactly."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import loadnb
from loadnb.results.export import CSV_TABLES, PARQUET_KEY
from loadnb.results.result import Result
from loadnb.rules.alert_engine import AlertRule

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("df", "stats", "stats_timeline", "errors", "errors_timeline", "alerts", "custom",
          "custom_totals")


def _plain(value: Any) -> Any:
    """NaN-safe comparison form of a summary."""
    return json.loads(json.dumps(value, default=str).replace("NaN", "null"))


@pytest.fixture(scope="module")
def mixed_run(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """A real run against the demo server with failures, an alert, a threshold and custom
    metrics (bounded: 1.5 s, 4 users)."""

    async def journey(user: Any) -> None:
        user.count("cart_items", 2)
        user.gauge("queue_depth", 7)
        async with user.timer("checkout"):
            await user.get("/", name="home")
        await user.get("/status/503", name="broken")

    always = AlertRule("always", lambda s: "fires" if s.interval_requests else None)
    history = tmp_path_factory.mktemp("hist") / "history.sqlite"
    result = loadnb.run(demo_url + "?token=s3cret", scenario=journey, users=4, duration="1.5s",
                        interval="0.25s", thresholds=["p95<5s", "errors<1%"],
                        alerts=[always], history=str(history))
    assert result.state == "done"
    assert result.summary["failed_requests"] > 0
    assert len(result.alerts) >= 1 and result.record.thresholds
    assert len(result.custom) > 0
    return result


def _same(loaded: Result, live: Result) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(live, name), obj=name)
    assert loaded.summary == live.summary
    assert loaded.record.thresholds == live.record.thresholds
    assert loaded.record.events == live.record.events
    assert loaded.record.warnings == live.record.warnings


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_export_round_trip_is_exact(mixed_run: Result, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"run{suffix}"
    (mixed_run.to_json if suffix == ".json" else mixed_run.to_parquet)(path)
    loaded = loadnb.load(str(path))
    _same(loaded, mixed_run)
    raw = path.read_bytes()
    assert b"s3cret" not in raw
    if suffix == ".parquet":  # readable by any Parquet tool: the snapshots as the table
        frame = pd.read_parquet(path)
        assert list(frame.columns) == [*mixed_run.df.columns, "interval_errors"]
        pd.testing.assert_frame_equal(frame.drop(columns="interval_errors"), mixed_run.df)
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        assert PARQUET_KEY in (pq.read_schema(path).metadata or {})
    else:
        doc = json.loads(raw)
        assert doc["format"] == "loadnb-run" and doc["version"] == 1
        assert len(doc["snapshots"]) == len(mixed_run.snapshots)
        assert {"summary", "totals", "stats", "errors", "alerts", "thresholds", "custom",
                "stats_timeline", "errors_timeline", "custom_totals"} <= set(doc)


def test_an_export_of_a_loaded_export_is_the_same(mixed_run: Result, tmp_path: Path) -> None:
    first = mixed_run.to_json(tmp_path / "a.json")
    again = loadnb.load(str(first)).to_parquet(tmp_path / "b.parquet")
    _same(loadnb.load(str(again)), mixed_run)


def test_history_run_exports_the_same(mixed_run: Result, tmp_path: Path) -> None:
    stored = loadnb.load(mixed_run.run_id, path=mixed_run.spec.history)
    path = stored.to_json(tmp_path / "stored.json")
    pd.testing.assert_frame_equal(loadnb.load(str(path)).stats, stored.stats)
    pd.testing.assert_frame_equal(stored.stats, mixed_run.stats)  # the live order of names


def test_csv_export_writes_every_table(mixed_run: Result, tmp_path: Path) -> None:
    folder = mixed_run.to_csv(tmp_path / "csv")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{t}.csv" for t in CSV_TABLES] + ["summary.json"])
    assert len(pd.read_csv(folder / "snapshots.csv")) == len(mixed_run.df)
    assert len(pd.read_csv(folder / "stats.csv")) == len(mixed_run.stats)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["run_id"] == mixed_run.run_id
    assert b"s3cret" not in b"".join(p.read_bytes() for p in folder.iterdir())


NOT_AN_EXPORT = "is not a loadnb export (.json or .parquet written by to_json/to_parquet/--out)"


@pytest.mark.parametrize("name, content", [
    ("run.csv", "elapsed_time,current_rps\n0.5,10\n"),  # the snapshots of --out run.csv
    ("other.json", '{"summary": {}}'),
    ("broken.json", "{not json"),
    ("list.json", "[1, 2]"),
    ("fake.parquet", "not parquet"),
    ("missing.json", None),
    ("missing.csv", None),
    ("sub/dir/missing", None),
])
def test_load_of_a_file_that_is_not_an_export_says_so(tmp_path: Path, name: str,
                                                      content: str | None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADNB_HISTORY", str(tmp_path / "h.sqlite"))
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    for ref in (str(path), path):
        with pytest.raises(ValueError) as caught:
            loadnb.load(ref)  # type: ignore[arg-type]
        assert str(caught.value) == f"{str(path)!r} {NOT_AN_EXPORT}"
        assert "no run in the history" not in str(caught.value)
    assert not (tmp_path / "h.sqlite").exists()


def test_report_of_a_file_that_is_not_an_export_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "run.csv"
    bad.write_text("a,b\n1,2\n")
    done = _cli("report", str(bad), "-o", str(tmp_path / "r.html"))
    assert done.returncode == 2
    assert done.stderr == f"loadnb: error: {str(bad)!r} {NOT_AN_EXPORT}\n"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "LOADNB_HISTORY": "off", "LOADNB_DEBUG": "1"}
    return subprocess.run([sys.executable, "-m", "loadnb.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("name", ["x.parquet", "x.json"])
def test_cli_out_writes_a_loadable_export(demo_url: str, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    done = _cli("run", demo_url + "status/500", "--rate", "50", "-d", "1s", "--interval", "0.25",
                "-q", "--json", "--out", str(out))
    assert done.returncode in (0, 1), done.stderr
    summary = json.loads(done.stdout)
    loaded = loadnb.load(str(out))
    assert loaded.run_id == summary["run_id"]
    assert loaded.summary["failed_requests"] == summary["failed_requests"] > 0
    assert _plain(loaded.summary["stats"]) == _plain(summary["stats"])
    assert math.isclose(loaded.summary["duration_s"], summary["duration_s"])
