"""The run history: the store (schema, migrations, refusal of a newer file), the writer as a sink,
listing, tags and pruning (real runs loaded back and the comparison: test_history_runs.py)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import loadnb
from loadnb.history import open_writer
from loadnb.history.reader import list_runs, load, prune, tag
from loadnb.history.store import (
    SCHEMA_VERSION,
    HistoryError,
    connect,
    redact_query,
    resolve_path,
    version_of,
)
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.snapshot import Snapshot
from loadnb.metrics.stats import IntervalStats
from loadnb.record.record import RunRecord
from loadnb.rules.alert_engine import AlertEvent
from loadnb.spec.config import make_spec
from tests.doubles import update_of

FIXTURE = Path(__file__).parents[1] / "fixtures" / "history-v1.sqlite"


# -- store ---------------------------------------------------------------------------------
def test_redact_query_hides_query_secrets_and_passwords() -> None:
    url = "http://u:pw@127.0.0.1/a?token=abc&page=2&API_KEY=k1&monkey=1&signature=s"
    assert redact_query(url) == ("http://u:***@127.0.0.1/a?token=***&page=2&API_KEY=***"
                                 "&monkey=1&signature=***")


def test_resolve_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_path("off") is None
    assert resolve_path(str(tmp_path / "x.sqlite")) == tmp_path / "x.sqlite"
    monkeypatch.setenv("LOADNB_HISTORY", "off")
    assert resolve_path(None) is None
    monkeypatch.setenv("LOADNB_HISTORY", str(tmp_path / "env.sqlite"))
    assert resolve_path(None) == tmp_path / "env.sqlite"
    monkeypatch.delenv("LOADNB_HISTORY")
    default = resolve_path(None)
    assert default is not None and default.name == "history.sqlite"
    assert "loadnb" in default.parts


def test_a_new_database_is_wal_and_current(tmp_path: Path) -> None:
    conn = connect(tmp_path / "h.sqlite")
    assert version_of(conn) == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_the_v1_fixture_migrates_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    shutil.copy(FIXTURE, path)
    raw = sqlite3.connect(path)
    assert version_of(raw) == 1
    raw.close()
    result = load("v1f", path)
    conn = connect(path)
    assert version_of(conn) == SCHEMA_VERSION
    conn.close()
    assert result.state == "done" and len(result.snapshots) == 2
    assert result.summary["completed_requests"] == 18 and result.summary["failed_requests"] == 2
    assert result.errors["count"].tolist() == [2]
    assert list_runs(path)[0]["snapshots"] == 2


def test_a_newer_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="newer than this loadnb"):
        connect(path)
    with pytest.raises(HistoryError, match="newer"):
        load("last", path)
    assert path.read_bytes() == before


def test_an_unknown_or_ambiguous_id_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    shutil.copy(FIXTURE, path)
    with pytest.raises(HistoryError, match="no run"):
        load("ffff", path)
    with pytest.raises(HistoryError, match="not a run id"):
        load("%", path)


# -- writer, unit ----------------------------------------------------------------------------
def _interval(name: str, ms: float, failed: int = 0) -> IntervalStats:
    return IntervalStats(name, started=5 + failed, completed=5, failed=failed,
                         latency=Histogram.from_seconds([ms / 1e3] * 5 + [ms / 1e3] * failed),
                         service=Histogram.from_seconds([ms / 2e3] * (5 + failed)),
                         status={200: 5}, errors={"HTTP 500": failed} if failed else {},
                         samples={"HTTP 500": "boom"} if failed else {})


def _snap(record: RunRecord, t: float, parts: dict[str, IntervalStats], final: bool) -> None:
    merged = IntervalStats("all")
    for p in parts.values():
        merged.merge(p)
    o = record.overall
    snap = Snapshot(timestamp=1e9 + t, elapsed_time=t, progress_percent=t * 10,
                    active_users=2, completed_requests=o.completed + merged.completed,
                    failed_requests=o.failed + merged.failed, success_rate=99.0,
                    current_rps=merged.finished / 0.5, peak_rps=30.0, estimated_completion=1.0,
                    interval_requests=merged.finished, interval_completed=merged.completed,
                    interval_failed=merged.failed, phase="done" if final else "running",
                    interval_errors=dict(merged.errors))
    record.add(snap, merged, parts, 0.5)


def test_the_writer_keeps_every_interval_alert_and_event(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    record = RunRecord("abc123def456", make_spec("http://127.0.0.1:9/", history=str(path)))
    writer = open_writer(record)
    assert writer is not None
    for i in range(6):
        names = {f"GET /{k}": _interval(f"GET /{k}", 10 + k + i, failed=i % 2) for k in range(3)}
        _snap(record, 0.5 * (i + 1), names, final=i == 5)
        if i == 1:
            record.alerts.append(AlertEvent("slow", "p99 high", 1.0))
            record.events.append((1.0, "set to 5 users"))
            record.warn("a warning")
        if i == 3:
            record.alerts[0].cleared_at = 2.0
        writer(update_of(record))
    assert [r["state"] for r in list_runs(path)] == ["running"]  # this process is alive
    record.state = "done"
    writer.close()
    live, loaded = loadnb.Result(record), load("abc", path)
    assert loaded.summary == live.summary
    pd.testing.assert_frame_equal(loaded.df, live.df)
    pd.testing.assert_frame_equal(loaded.stats, live.stats)
    pd.testing.assert_frame_equal(loaded.errors, live.errors)
    pd.testing.assert_frame_equal(loaded.alerts, live.alerts)
    pd.testing.assert_frame_equal(loaded.stats_timeline, live.stats_timeline)
    assert loaded.record.events == [(1.0, "set to 5 users")]
    assert loaded.warnings == ["a warning"]


def _unfinished_run(path: Path, run_id: str = "dead00000001") -> RunRecord:
    """A run whose writer kept three intervals and was never closed (its process killed)."""
    record = RunRecord(run_id, make_spec("http://127.0.0.1:9/", history=str(path)))
    writer = open_writer(record)
    assert writer is not None
    for i in range(3):
        names = {f"GET /{k}": _interval(f"GET /{k}", 10 + 7 * k + i, failed=k) for k in range(2)}
        _snap(record, 0.5 * (i + 1), names, final=False)
        writer(update_of(record))
    return record


def test_an_unfinished_run_is_listed_with_its_percentiles(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    _unfinished_run(path)
    (row,) = list_runs(path)
    latency = load("last", path).summary["latency_ms"]
    assert row["state"] == "running" and latency["p95"] is not None
    assert (row["p95_ms"], row["p99_ms"]) == (latency["p95"], latency["p99"])
    frame = loadnb.history(path)
    assert (frame.iloc[0].p95_ms, frame.iloc[0].p99_ms) == (latency["p95"], latency["p99"])


def _zombie() -> subprocess.Popen[bytes]:
    """A child process that has exited and is not reaped (the caller reaps it: ``wait()``)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the kernel says it exited (never polled: unreaped)
        state = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            return child
        time.sleep(0.01)
    raise AssertionError(f"child {child.pid} did not exit")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_a_run_whose_process_is_a_zombie_is_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    _unfinished_run(path)
    child = _zombie()
    try:
        os.kill(child.pid, 0)  # the zombie still answers signal 0: that is not being alive
        conn = connect(path)
        conn.execute("UPDATE runs SET pid = ?", (child.pid,))
        conn.close()
        assert [r["state"] for r in list_runs(path)] == ["interrupted"]
        assert load("last", path).state == "interrupted"
    finally:
        child.wait(timeout=10)


def test_history_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADNB_HISTORY", "off")
    assert open_writer(RunRecord("x", make_spec("http://127.0.0.1:9/"))) is None
    assert open_writer(RunRecord("x", make_spec("http://127.0.0.1:9/", history=False))) is None


# -- listing, tags, prune ------------------------------------------------------------------------
def test_list_tag_note_delete_prune(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    shutil.copy(FIXTURE, path)
    assert tag("last", "baseline", path) == ["baseline"]
    assert tag("v1f1", "baseline", path) == ["baseline"]
    loadnb.history.note("last", "before the cache", path)
    frame = loadnb.history(path)
    assert frame.columns[:11].tolist() == [
        "run_id", "started_at", "target", "model", "duration_s", "requests", "success_rate",
        "rps", "p95_ms", "p99_ms", "state"]
    row = frame.iloc[0]
    assert (row.run_id, row.state, row.tags, row.note, row.requests) == (
        "v1f1x7ure000", "done", ["baseline"], "before the cache", 20)
    assert loadnb.history(path, target="nowhere").empty
    assert prune(keep=1, path=path) == []
    assert loadnb.history.prune(older_than="1d", path=path) == ["v1f1x7ure000"]
    assert loadnb.history(path).empty


def test_a_missing_database_lists_nothing(tmp_path: Path) -> None:
    assert loadnb.history(tmp_path / "none.sqlite").empty
    assert not (tmp_path / "none.sqlite").exists()
