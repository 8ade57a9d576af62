"""Files written before the one codec (issue 21) load after it, and the code writes them as then.

``tests/fixtures/stored-run.{json,parquet,sqlite}`` were written by the code before the change
(``tests/fixtures/make_stored_run.py``: three names, failures, checks, iterations, custom metrics
of every kind, alerts, thresholds, an abort); ``stored-run-expected.json`` is what loading them
gave then. Loading them today gives the same; writing the same run today gives the same rows
and the same document, byte for byte where the format is text.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from loadnb.history.reader import load
from loadnb.history.store import TABLES as HISTORY_TABLES
from loadnb.results.export import PARQUET_KEY, read
from loadnb.results.result import Result
from loadnb.text.jsonsafe import json_safe

FIXTURES = Path(__file__).parents[1] / "fixtures"
RUN_ID = "5702edf1x7e0"
TABLES = ("df", "stats", "stats_timeline", "errors", "errors_timeline", "alerts", "custom",
          "custom_totals")
#: Columns of ``runs`` that say where and when it was written, not what.
VOLATILE = {"pid", "host", "updated_at"}
INDEXED = {"alerts", "warnings", "events"}  # tables WITHOUT ROWID
#: Snapshot columns and ``generator`` summary keys added since the files were written (issue 25:
#: the open model's send lag); this closed-model run writes them empty (None), and is compared
#: without them.
ADDED_SNAPSHOT = {"send_lag_p99_ms"}
ADDED_GENERATOR = {"send_lag_p99_ms"}


def _drop_added(row: dict[str, Any], keys: set[str]) -> None:
    """Take ``keys`` out of ``row`` (a written row or summary part), each present and None."""
    for key in keys:
        assert row.pop(key) is None, key


def frame(value: pd.DataFrame) -> Any:
    """A DataFrame as plain JSON data (NaN as null), for the expected values."""
    return json.loads(value.to_json(orient="split", index=False, double_precision=15))


def seen(result: Result) -> dict[str, Any]:
    """What a loaded run shows, as plain JSON data: the summary (but ``versions``), the tables,
    the record's parts and its totals (counts, and histograms by their summaries)."""
    summary = dict(result.summary)
    summary.pop("versions")
    r = result.record
    totals = {name: {"started": iv.started, "completed": iv.completed, "failed": iv.failed,
                     "cancelled": iv.cancelled, "bytes": iv.bytes, "corrected": iv.corrected,
                     "latency": iv.latency.summary(), "service": iv.service.summary(),
                     "status": {str(k): v for k, v in iv.status.items()}, "errors": iv.errors,
                     "samples": iv.samples, "checks": iv.checks, "iterations": iv.iterations,
                     "iteration_errors": iv.iteration_errors}
              for name, iv in {**r.totals, "(overall)": r.overall}.items()}
    custom = {name: {"kind": m.kind, "count": m.count, "total": m.total, "last": m.last,
                     "min": m.min, "max": m.max, "hist": m.hist.summary()}
              for name, m in r.custom.items()}
    return json.loads(json.dumps(json_safe({
        "summary": summary, "tables": {t: frame(getattr(result, t)) for t in TABLES},
        "thresholds": r.thresholds, "aborted_by": r.aborted_by, "events": r.events,
        "warnings": r.warnings, "state": r.state, "totals": totals, "custom": custom})))


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    value: dict[str, Any] = json.loads((FIXTURES / "stored-run-expected.json").read_text())
    return value


def _load(kind: str, tmp_path: Path) -> Result:
    if kind == "sqlite":  # opening migrates and sets WAL: never on the committed file
        path = tmp_path / "h.sqlite"
        shutil.copy(FIXTURES / "stored-run.sqlite", path)
        return load(RUN_ID[:6], path)
    return load(str(FIXTURES / f"stored-run.{kind}"))


@pytest.mark.parametrize("kind", ["sqlite", "json", "parquet"])
def test_a_run_stored_before_loads_as_before(kind: str, tmp_path: Path,
                                             expected: dict[str, Any]) -> None:
    loaded = _load(kind, tmp_path)
    assert seen(loaded) == expected
    summary = loaded.summary  # and a few of those values, spelled out
    assert (summary["total_requests"], summary["completed_requests"], summary["failed_requests"],
            summary["cancelled_requests"]) == (340, 318, 20, 2)
    assert summary["state"] == "stopped" and summary["aborted_by"] == "errors<1%"
    assert summary["errors"] == {"HTTP 500": 18, "AssertionError": 2, "timeout": 2}
    assert summary["checks"]["status is 200"] == {"passes": 318, "fails": 18}
    assert summary["iterations"]["journey"]["iterations"] == 46
    assert {n: m["kind"] for n, m in summary["custom"].items()} == {
        "cart_items": "counter", "queue_depth": "gauge", "checkout": "timing",
        "retries": "gauge"}
    assert summary["custom"]["cart_items"]["total"] == 34.0
    assert summary["latency_ms"]["max"] == 900.0
    assert [a["rule"] for a in summary["alerts"]] == ["error-rate", "slow"]
    assert [t["passed"] for t in summary["thresholds"]] == [True, False]


def _rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        out = {t: [dict(r) for r in conn.execute(  # in the order written
                   f"SELECT * FROM {t} ORDER BY {'idx' if t in INDEXED else 'rowid'}")]
               for t in HISTORY_TABLES if t != "runs"}
        runs = [dict(r) for r in conn.execute("SELECT * FROM runs")]
    finally:
        conn.close()
    for run in runs:
        for column in VOLATILE:
            run.pop(column)
        summary = json.loads(run.pop("summary"))
        summary.pop("versions")
        run["summary"] = summary
    return out | {"runs": runs}


def test_the_history_is_written_as_before(tmp_path: Path) -> None:
    from tests.fixtures.make_stored_run import make_run

    make_run(tmp_path / "now.sqlite")
    now, before = _rows(tmp_path / "now.sqlite"), _rows(FIXTURES / "stored-run.sqlite")
    assert {t: len(rows) for t, rows in now.items()} == {t: len(r) for t, r in before.items()}
    for row in now["snapshots"]:
        _drop_added(row, ADDED_SNAPSHOT)
    for run in now["runs"]:
        _drop_added(run["summary"]["generator"], ADDED_GENERATOR)
    for table in before:
        assert now[table] == before[table], table
    assert len(before["intervals"]) == 12 and len(before["custom"]) == 13


def _document(doc: dict[str, Any], *, summary: bool = False,
              snapshots: bool = False) -> dict[str, Any]:
    """``doc`` without ``versions`` and, where it was written today, the keys added since (in
    the ``summary``, in the ``snapshots``; ``read`` fills the summary's of older files)."""
    doc["summary"].pop("versions")
    if summary:
        _drop_added(doc["summary"]["generator"], ADDED_GENERATOR)
    for row in doc.get("snapshots", ()) if snapshots else ():
        _drop_added(row, ADDED_SNAPSHOT)
    return doc


def test_the_exports_are_written_as_before(tmp_path: Path) -> None:
    from tests.fixtures.make_stored_run import make_run

    live = Result(make_run(tmp_path / "h.sqlite"))
    before = _document(json.loads((FIXTURES / "stored-run.json").read_text()))
    now = _document(json.loads(live.to_json(tmp_path / "now.json").read_text()), summary=True,
                    snapshots=True)
    assert now == before
    assert json.dumps(now["totals"]) == json.dumps(before["totals"])  # key order too
    parquet = live.to_parquet(tmp_path / "now.parquet")
    assert _document(read(parquet), snapshots=True) == _document(
        read(FIXTURES / "stored-run.parquet"))
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    meta = [pq.read_schema(p).metadata[PARQUET_KEY] for p in (parquet,
                                                              FIXTURES / "stored-run.parquet")]
    assert _document(json.loads(meta[0]), summary=True) == _document(json.loads(meta[1]))
