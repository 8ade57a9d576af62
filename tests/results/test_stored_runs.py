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
#: The message streams' snapshot columns (WebSocket, SSE; issue 22): zero in a run without
#: streams.
STREAM_COLUMNS = ("connected", "interval_messages_sent", "interval_messages_received")
#: What was added since the fixtures were written, left out of the comparison (issue 22: the
#: connections' columns, summary keys, spec parameters, export totals and history table (v4);
#: the message streams' columns, summary key, export totals and timeline and history table (v5),
#: each checked empty for a run without streams; issue 23: the target's series and the slowest
#: traced requests, history tables (v6), checked empty for a run that observes nothing; their
#: export keys are only written when present).
ADDED_COLUMNS = ("interval_connections", "connect_p50_ms", "connect_p95_ms", "tls_p50_ms",
                 "tls_p95_ms", *STREAM_COLUMNS, "send_lag_p99_ms")
#: ``generator`` summary keys added since (issue 25: the open model's send lag, v7).
ADDED_GENERATOR = ("send_lag_p99_ms",)
ADDED_SUMMARY = ("protocol", "connections", "messages", "startup_cpu_s")
#: What the run's row (history ``runs``, v8) and an export's ``run`` have had since (issue 25: the
#: start-up's CPU, None for a run that never started its load, as this one).
ADDED_RUN = ("startup_cpu_s",)
ADDED_PARAMETERS = ("http2", "streams", "cacert", "cert", "key", "connect_to")
ADDED_TABLES = ("connections", "messages", "server", "slowest")


def without_added(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` without the keys added since the fixtures were written."""
    out = {k: v for k, v in summary.items() if k not in ADDED_SUMMARY}
    if isinstance(out.get("generator"), dict):
        out["generator"] = {k: v for k, v in out["generator"].items()
                            if k not in ADDED_GENERATOR}
    if isinstance(out.get("parameters"), dict):
        out["parameters"] = {k: v for k, v in out["parameters"].items()
                             if k not in ADDED_PARAMETERS}
    return out


def old_frame(value: pd.DataFrame) -> pd.DataFrame:
    """``value`` without the columns added since the fixtures were written."""
    return value.drop(columns=[c for c in ADDED_COLUMNS if c in value.columns])


def frame(value: pd.DataFrame) -> Any:
    """A DataFrame as plain JSON data (NaN as null), for the expected values."""
    return json.loads(value.to_json(orient="split", index=False, double_precision=15))


def seen(result: Result) -> dict[str, Any]:
    """What a loaded run shows, as plain JSON data: the summary (but ``versions``), the tables,
    the record's parts and its totals (counts, and histograms by their summaries)."""
    summary = without_added(dict(result.summary))
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
        "summary": summary,
        "tables": {t: frame(old_frame(getattr(result, t))) for t in TABLES},
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
    assert loaded.summary["messages"] == {}  # no streams then: none now
    assert (loaded.df[list(STREAM_COLUMNS)] == 0).all().all()
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
        out = {t: [{k: v for k, v in dict(r).items() if k not in ADDED_COLUMNS}
                   for r in conn.execute(  # in the order written
                       f"SELECT * FROM {t} ORDER BY {'idx' if t in INDEXED else 'rowid'}")]
               for t in HISTORY_TABLES if t != "runs" and t not in ADDED_TABLES}
        runs = [dict(r) for r in conn.execute("SELECT * FROM runs")]
    finally:
        conn.close()
    for run in runs:
        for column in VOLATILE:
            run.pop(column)
        for column in ADDED_RUN:
            assert run.pop(column, None) is None
        summary = without_added(json.loads(run.pop("summary")))
        summary.pop("versions")
        run["params"] = without_added({"parameters": json.loads(run["params"])})["parameters"]
        run["summary"] = summary
    return out | {"runs": runs}


def test_the_history_is_written_as_before(tmp_path: Path) -> None:
    from tests.fixtures.make_stored_run import make_run

    make_run(tmp_path / "now.sqlite")
    now, before = _rows(tmp_path / "now.sqlite"), _rows(FIXTURES / "stored-run.sqlite")
    assert {t: len(rows) for t, rows in now.items()} == {t: len(r) for t, r in before.items()}
    for table in before:
        assert now[table] == before[table], table
    assert len(before["intervals"]) == 12 and len(before["custom"]) == 13
    conn = sqlite3.connect(tmp_path / "now.sqlite")  # v5 (issue 22): no streams, none written
    try:
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone() == (0,)
        assert conn.execute(f"SELECT DISTINCT {', '.join(STREAM_COLUMNS)} FROM snapshots"
                            ).fetchall() == [(0, 0, 0)]
        assert [json.loads(text)["messages"] for text, in conn.execute(
            "SELECT summary FROM runs")] == [{}]
        # v6 (issue 23): a run that observes nothing writes no series, no slowest requests
        assert [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone() for t in (
            "server", "slowest")] == [(0,), (0,)]
    finally:
        conn.close()


def _document(doc: dict[str, Any]) -> dict[str, Any]:
    doc["summary"] = without_added(doc["summary"])
    doc["summary"].pop("versions")
    doc["totals"].pop("connections", None)
    for key in ADDED_RUN:
        assert doc["run"].pop(key, None) is None
    doc["run"]["params"] = without_added({"parameters": doc["run"].get("params")})["parameters"]
    for key in ("snapshots", "df"):
        if key in doc:
            doc[key] = [{k: v for k, v in row.items() if k not in ADDED_COLUMNS}
                        for row in doc[key]]
    return doc


def _streamless(doc: dict[str, Any], *, summary: bool = True) -> dict[str, Any]:
    """A document written now without the message streams' parts (issue 22), each checked
    empty: what a run without streams wrote before (``summary=False``: read back by
    :func:`read`, whose summary has every key, the document written before too)."""
    if summary:
        assert doc["summary"].pop("messages") == {}
    assert doc["totals"].pop("messages") == [] and doc.pop("messages") == []
    for snap in doc.get("snapshots", []):
        assert [snap.pop(c) for c in STREAM_COLUMNS] == [0, 0, 0]
    return _document(doc)


def test_the_exports_are_written_as_before(tmp_path: Path) -> None:
    from tests.fixtures.make_stored_run import make_run

    live = Result(make_run(tmp_path / "h.sqlite"))
    before = _document(json.loads((FIXTURES / "stored-run.json").read_text()))
    now = _streamless(json.loads(live.to_json(tmp_path / "now.json").read_text()))
    assert now == before
    assert json.dumps(now["totals"]) == json.dumps(before["totals"])  # key order too
    parquet = live.to_parquet(tmp_path / "now.parquet")
    assert _streamless(read(parquet), summary=False) == _document(
        read(FIXTURES / "stored-run.parquet"))
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    meta = [pq.read_schema(p).metadata[PARQUET_KEY] for p in (parquet,
                                                              FIXTURES / "stored-run.parquet")]
    assert _streamless(json.loads(meta[0])) == _document(json.loads(meta[1]))
