"""One schema per table: the per-name failure column is ``failed`` everywhere, the run's target
is ``target`` in every history listing, ``capacity --json`` steps carry ``CapacityResult.steps``'s
columns, a run loaded back (history or export) equals the live one, and ``compare`` prints
numbers as the other tables do (no NaN, no ``7.62e+03``)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import loadnb
from loadnb.cli import main as cli_main
from loadnb.engine.vuser import VirtualUser
from loadnb.history.comparison import Comparison, Row
from loadnb.results.export import read
from loadnb.results.result import Result
from loadnb.studies.capacity import STEP_COLUMNS
from loadnb.text.jsonsafe import json_safe

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, history: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "LOADNB_HISTORY": str(history)}
    return subprocess.run([sys.executable, "-m", "loadnb", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)


def typed(value: Any) -> Any:
    """``value`` with the type of every part, for a comparison where 1 != 1.0 and () != []."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    return (type(value).__name__, value)


def round_trip(summary: dict[str, Any]) -> Any:
    return json.loads(json.dumps(json_safe(summary)))


async def journey(user: VirtualUser) -> None:
    """Two names whose first-seen order (zeta, alpha) is not their sorted order."""
    await user.get("/", name="zeta")
    await user.get("/status/503", name="alpha")


@pytest.fixture(scope="module")
def two_names(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """A real run with two names, stages (a tuple parameter) and a think-time range."""
    history = tmp_path_factory.mktemp("schema") / "h.sqlite"
    result = loadnb.run(scenario=journey, url=demo_url, stages=[("0.4s", 2), ("0.4s", 3)],
                        think_time=(0.001, 0.002), interval="0.2s", history=str(history))
    assert result.state == "done" and result.summary["failed_requests"] > 0
    return result


# -- the failure column ------------------------------------------------------------------------
def test_the_failure_column_is_failed_everywhere(two_names: Result, tmp_path: Path) -> None:
    expected = {"zeta": 0, "alpha": two_names.totals["alpha"].failed}
    assert expected["alpha"] > 0
    rows = two_names.summary["stats"]
    assert all("failures" not in r for r in rows)
    assert {r["name"]: r["failed"] for r in rows} == expected
    assert dict(zip(two_names.stats.name, two_names.stats.failed, strict=True)) == expected
    with (two_names.to_csv(tmp_path / "csv") / "stats.csv").open() as f:
        assert {r["name"]: int(r["failed"]) for r in csv.DictReader(f)} == expected
    assert "<th>failed</th>" in two_names._repr_html_()


def test_x_stats_csv_has_the_failed_column(demo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    proc = cli("run", demo_url + "status/500", "-n", "12", "-q", "--out", str(out),
               history=tmp_path / "h.sqlite")
    assert proc.returncode == 0, proc.stderr
    with (tmp_path / "x_stats.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames is not None and "failures" not in reader.fieldnames
    assert [(r["name"], r["requests"], r["failed"]) for r in rows] == [
        ("GET /status/500", "12", "12")]


def test_an_export_written_with_the_old_key_still_loads(two_names: Result,
                                                        tmp_path: Path) -> None:
    path = two_names.to_json(tmp_path / "run.json")
    doc = json.loads(path.read_text())
    for row in doc["summary"]["stats"]:  # as an export of an older loadnb wrote it
        row["failures"] = row.pop("failed")
    path.write_text(json.dumps(doc))
    assert [r["failed"] for r in read(path)["summary"]["stats"]] == [
        r["failed"] for r in two_names.summary["stats"]]
    assert loadnb.load(str(path)).summary == two_names.summary


# -- the target key ----------------------------------------------------------------------------
def test_both_history_listings_say_target(two_names: Result) -> None:
    history = Path(str(two_names.spec.history))
    proc = cli("history", "--json", history=history)
    assert proc.returncode == 0, proc.stderr
    (listed,) = json.loads(proc.stdout)
    frame = loadnb.history(history)
    assert "url" not in listed and "url" not in frame.columns
    assert listed["target"] == frame.iloc[0].target == two_names.spec.target
    assert set(listed) == set(frame.columns)
    text = cli("history", history=history).stdout
    assert text.splitlines()[0].split()[-1] == "target"


# -- capacity --------------------------------------------------------------------------------
def test_capacity_json_steps_carry_the_steps_columns(
        demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["capacity", f"{demo_url}capacity?c=4&s_ms=20", "--slo", "p99<200ms",
                     "--start-rate", "50", "--max-rate", "50", "--step-duration", "0.4s",
                     "--cooldown", "0.1s", "--max-steps", "1", "--json", "--no-history", "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (step,) = json.loads(out)["steps"]
    assert list(step) == list(STEP_COLUMNS)
    assert {"p90_ms", "latency_grew"} <= set(step)


# -- a loaded run is the live one -------------------------------------------------------------
def test_a_run_loaded_from_the_history_equals_the_live_one(two_names: Result) -> None:
    loaded = loadnb.load(two_names.run_id, two_names.spec.history)
    assert round_trip(loaded.summary) == round_trip(two_names.summary)
    assert loaded.summary == two_names.summary
    assert typed(loaded.summary["parameters"]) == typed(two_names.summary["parameters"])
    assert list(loaded.stats.name) == list(two_names.stats.name) == ["zeta", "alpha"]
    assert [r["name"] for r in loaded.summary["stats"]] == ["zeta", "alpha"]
    assert list(loaded.stats_timeline.name) == list(two_names.stats_timeline.name)


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_a_run_loaded_from_an_export_equals_the_live_one(two_names: Result, tmp_path: Path,
                                                         suffix: str) -> None:
    path = tmp_path / f"run{suffix}"
    (two_names.to_json if suffix == ".json" else two_names.to_parquet)(path)
    loaded = loadnb.load(str(path))
    assert round_trip(loaded.summary) == round_trip(two_names.summary)
    assert typed(loaded.summary["parameters"]) == typed(two_names.summary["parameters"])
    assert list(loaded.stats.name) == ["zeta", "alpha"]


# -- compare ---------------------------------------------------------------------------------
def test_compare_text_formats_rps_and_prints_no_nan(two_names: Result) -> None:
    rows = [Row("overall", "rps", 7620.4, 7700.0, 79.6, 1.0446, 0.5, "no significant change"),
            Row("zeta", "p95_ms", 4.5, 5.0, 0.5, 11.1, None, "too few samples"),
            Row("zeta", "success_rate", None, 99.0, None, None, None, "too few samples")]
    text = Comparison(two_names, two_names, rows).text()
    assert "7,620.40" in text and "7,700.00" in text
    assert "e+0" not in text and "nan" not in text.lower()
    assert text.splitlines()[0].split() == ["scope", "metric", "a", "b", "change",
                                            "change_pct", "p_value", "verdict"]


def test_compare_cli_prints_no_nan(two_names: Result) -> None:
    history = Path(str(two_names.spec.history))
    proc = cli("compare", two_names.run_id, "last", history=history)
    assert proc.returncode == 0, proc.stderr
    assert "nan" not in proc.stdout.lower() and "e+0" not in proc.stdout, proc.stdout
    untested = [line for line in proc.stdout.splitlines() if "p95_ms" in line and "zeta" in line]
    assert len(untested) == 1 and "too few" in untested[0], proc.stdout
    table = loadnb.compare(two_names, two_names).table
    untested = table.p_value.isna()
    assert untested.any() and (table[untested].verdict == "too few samples").all()
    assert not table[~untested].verdict.str.startswith("too few").any()


def test_compare_can_be_called_again(two_names: Result) -> None:
    """The function ``loadnb.history.compare`` is not shadowed by a submodule of that name once
    the comparison code is imported (a second ``loadnb.compare(...)`` in a notebook)."""
    first = loadnb.compare(two_names, two_names)
    again = loadnb.history.compare(two_names, two_names)
    assert callable(loadnb.compare) and callable(loadnb.history.compare)
    assert loadnb.compare(two_names, two_names).as_dict() == first.as_dict() == again.as_dict()
