"""The history from the command line, in subprocesses: listing, showing, comparing, bad input,
a run killed with SIGKILL, two writers and a reader at once, migration and refusal, and no
secret ever reaching the database file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import loadnb
from loadnb.history.store import SCHEMA_VERSION, version_of

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parents[1] / "fixtures" / "history-v1.sqlite"


def env(path: Path | str) -> dict[str, str]:
    return {**os.environ, "LOADNB_HISTORY": str(path)}


def loadnb_cli(*args: str, path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadnb", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env(path))


def runs(path: Path) -> list[dict[str, object]]:
    proc = loadnb_cli("history", "--json", path=path)
    assert proc.returncode == 0, proc.stderr
    listed: list[dict[str, object]] = json.loads(proc.stdout)
    return listed


def snapshot_count(path: Path) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(path, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0])
    except sqlite3.OperationalError:  # the tables are not there yet
        return 0
    finally:
        conn.close()


def test_run_history_show_compare_delete(demo_url: str, tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    for _ in range(2):
        proc = loadnb_cli("run", demo_url, "-u", "2", "-n", "200", "--interval", "0.1s", "-q",
                          "--json", path=path)
        assert proc.returncode == 0, proc.stderr
    live = json.loads(proc.stdout)
    listed = runs(path)
    assert [r["state"] for r in listed] == ["done", "done"]
    assert listed[0]["run_id"] == live["run_id"] and listed[0]["target"] == demo_url
    assert all(isinstance(r["snapshots"], int) and r["snapshots"] >= 1 for r in listed)
    shown = loadnb_cli("show", live["run_id"][:5], "--json", path=path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == live
    text = loadnb_cli("show", "last", path=path)
    assert text.returncode == 0 and live["run_id"] in text.stdout
    cmp = loadnb_cli("compare", str(listed[1]["run_id"]), "last", "--json", path=path)
    assert cmp.returncode == 0, cmp.stderr
    assert {row["metric"] for row in json.loads(cmp.stdout)["rows"]} >= {"rps", "p99_ms"}
    assert loadnb_cli("compare", str(listed[1]["run_id"]), "last", path=path).returncode == 0
    deleted = loadnb_cli("history", "--delete", "last", path=path)
    assert deleted.returncode == 0 and live["run_id"] in deleted.stdout
    assert [r["run_id"] for r in runs(path)] == [listed[1]["run_id"]]
    assert "run_id" in loadnb_cli("history", path=path).stdout


@pytest.mark.parametrize("args, message", [
    (["show", "nope"], "no run in the history matches 'nope'"),
    (["show"], "the following arguments are required: RUN"),
    (["history", "--limit", "x"], "--limit"),
    (["history", "--delete", "zz"], "no run"),
    (["compare", "last"], "required"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path: Path, args: list[str],
                                            message: str) -> None:
    path = tmp_path / "h.sqlite"
    shutil.copy(FIXTURE, path)
    proc = loadnb_cli(*args, path=path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("loadnb: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_no_history_keeps_nothing(demo_url: str, tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    proc = loadnb_cli("run", demo_url, "-n", "20", "-q", "--no-history", path=path)
    assert proc.returncode == 0, proc.stderr
    assert not path.exists()
    other = tmp_path / "other.sqlite"
    proc = loadnb_cli("run", demo_url, "-n", "20", "-q", "--history", str(other), path=path)
    assert proc.returncode == 0 and not path.exists()
    assert [r["state"] for r in runs(other)] == ["done"]


def demo_counts(demo_url: str) -> object:
    with urllib.request.urlopen(demo_url + "stats", timeout=10) as response:
        doc = json.loads(response.read())
    return {k: v for k, v in doc.items() if k != "in_flight"}


def _unwritable(tmp_path: Path, case: str) -> Path:
    """A history path that cannot be written, even by root."""
    if case == "parent is a file":
        (tmp_path / "file").write_text("x")
        return tmp_path / "file" / "h.sqlite"
    if case == "a directory":
        (tmp_path / "dir.sqlite").mkdir()
        return tmp_path / "dir.sqlite"
    path = tmp_path / "h.sqlite"
    if case == "not a database":
        path.write_bytes(b"this is not a database" * 100)
    else:  # a newer loadnb's
        shutil.copy(FIXTURE, path)
        conn = sqlite3.connect(path)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.commit()
        conn.close()
    return path


@pytest.mark.parametrize("case", ["parent is a file", "a directory", "not a database",
                                  "a newer database"])
def test_a_history_that_cannot_be_written_is_bad_input(demo_url: str, tmp_path: Path,
                                                       case: str) -> None:
    where = _unwritable(tmp_path, case)
    before_bytes = where.read_bytes() if where.is_file() else None
    before = demo_counts(demo_url)
    proc = loadnb_cli("run", demo_url, "-n", "20", "-q", "--history", str(where),
                      path=tmp_path / "default.sqlite")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("loadnb: error: --history") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert demo_counts(demo_url) == before  # nothing was sent
    assert (where.read_bytes() if where.is_file() else None) == before_bytes
    assert not (tmp_path / "default.sqlite").exists()


def test_v1_migrates_and_a_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    old = tmp_path / "v1.sqlite"
    shutil.copy(FIXTURE, old)
    proc = loadnb_cli("show", "last", "--json", path=old)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["completed_requests"] == 18
    conn = sqlite3.connect(old)
    assert version_of(conn) == SCHEMA_VERSION
    conn.close()
    new = tmp_path / "new.sqlite"
    shutil.copy(FIXTURE, new)
    conn = sqlite3.connect(new)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = new.read_bytes()
    for args in (["history"], ["show", "last"], ["history", "--delete", "last"]):
        proc = loadnb_cli(*args, path=new)
        assert proc.returncode == 2 and "newer than this loadnb" in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1
    assert new.read_bytes() == before


@pytest.mark.slow
def test_a_killed_run_is_interrupted_and_keeps_its_snapshots(demo_url: str,
                                                             tmp_path: Path) -> None:
    """Snapshots are written as the run goes (8 are in the file while it runs), and every one
    written before the SIGKILL is there after it: the count read just before the kill."""
    path = tmp_path / "h.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "loadnb", "run", demo_url, "-r", "200",
                             "-d", "30s", "--interval", "0.2s", "-q"], cwd=ROOT,
                            env=env(path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while snapshot_count(path) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        written = snapshot_count(path)
        assert written >= 8 and proc.poll() is None, written
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    (run,) = runs(path)
    assert run["state"] == "interrupted"
    shown = loadnb_cli("show", "last", "--json", path=path)
    assert shown.returncode == 0, shown.stderr
    latency = json.loads(shown.stdout)["latency_ms"]
    assert latency["p95"] is not None and latency["p99"] is not None
    assert (run["p95_ms"], run["p99_ms"]) == (latency["p95"], latency["p99"])
    frame = loadnb.history(path)
    assert (frame.iloc[0].p95_ms, frame.iloc[0].p99_ms) == (latency["p95"], latency["p99"])
    assert f"{latency['p99']:,.1f}" in loadnb_cli("history", path=path).stdout
    result = loadnb.load("last", path)
    assert len(result.snapshots) >= written, (len(result.snapshots), written)
    assert [s.elapsed_time for s in result.snapshots] == sorted(
        s.elapsed_time for s in result.snapshots)
    assert len(result.df) == run["snapshots"] == len(result.snapshots)
    assert result.summary["completed_requests"] == result.df["interval_completed"].sum() > 0
    assert result.state == "interrupted"


@pytest.mark.slow
def test_two_writers_and_a_reader_lose_nothing(demo_url: str, tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    outs = [tmp_path / f"run{i}.json" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "loadnb", "run", demo_url, "-r", "300",
                               "-d", "3s", "--interval", "0.05s", "-q", "--json", "-o",
                               str(out)], cwd=ROOT, env=env(path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for out in outs]
    listed = 0
    try:
        while any(p.poll() is None for p in procs):
            listed += len(loadnb.history.reader.list_runs(path))  # a reader meanwhile
            time.sleep(0.02)
        results = [p.communicate(timeout=30) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)
    for p, (stdout, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stderr
        assert "locked" not in stderr and "history" not in json.loads(stdout)["warnings"]
        assert not json.loads(stdout)["warnings"]
    assert listed > 0
    by_id = {r["run_id"]: r for r in runs(path)}
    for out in outs:
        doc = json.loads(out.read_text())
        run = by_id[doc["summary"]["run_id"]]
        assert run["state"] == "done" and run["snapshots"] == len(doc["snapshots"])
        assert loadnb.load(str(run["run_id"]), path).summary == doc["summary"]


def test_no_secret_reaches_the_database(demo_url: str, tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    host = demo_url.split("//", 1)[1]
    secrets = ["pw-secret-1", "tok-secret-2", "auth-secret-3", "cookie-secret-4",
               "apikey-secret-5", "tok-secret-6"]
    commands = [
        ["run", f"http://user:pw-secret-1@{host}?token=tok-secret-2&page=1", "-n", "20",
         "-H", "Cookie: sid=cookie-secret-4", "-H", "X-API-Key: apikey-secret-5"],
        ["run", f"{demo_url}?status=500&api_key=tok-secret-2", "-n", "20",
         "-H", "Authorization: Bearer auth-secret-3"],
        ["run", "http://127.0.0.1:1/?token=tok-secret-6", "-n", "5", "--timeout", "1s"],
    ]
    for args in commands:
        proc = loadnb_cli(*args, "-q", path=path)
        assert proc.returncode == 0, proc.stderr
    assert len(runs(path)) == 3
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            data = file.read_bytes()
            assert not [s for s in secrets if s.encode() in data], file
    assert b"token=***" in path.read_bytes()
