"""The history's migrations one step at a time: v4 (the connections, issue 22), v5 (the message
streams, issue 22) then v6 (the target's series and the slowest traced requests, issue 23), then v7
(the open model's send lag, issue 25), then v8 (the start-up's CPU, issue 25), from
a v3 database as the stored-run fixture is."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from loadnb.history.reader import load
from loadnb.history.store import SCHEMA_VERSION, connect, migrate, version_of

FIXTURES = Path(__file__).parents[1] / "fixtures"
CONNECTION_COLUMNS = {"interval_connections", "connect_p50_ms", "connect_p95_ms", "tls_p50_ms",
                      "tls_p95_ms"}
STREAM_COLUMNS = {"connected", "interval_messages_sent", "interval_messages_received"}
OBSERVE_TABLES = {"server", "slowest"}


def _shape(conn: sqlite3.Connection) -> tuple[set[str], set[str]]:
    """The tables of the database and the columns of its ``snapshots``."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    columns = {r[1] for r in conn.execute("PRAGMA table_info(snapshots)")}
    return tables, columns


def test_a_v3_database_migrates_through_v4_v5_v6_v7_then_v8(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    shutil.copy(FIXTURES / "stored-run.sqlite", path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert version_of(conn) == 3
        tables, columns = _shape(conn)
        assert not ({"connections", "messages"} | OBSERVE_TABLES) & tables
        assert not (CONNECTION_COLUMNS | STREAM_COLUMNS) & columns
        assert migrate(conn, path, upto=4) == 4 and version_of(conn) == 4
        tables, columns = _shape(conn)
        assert "connections" in tables and not ({"messages"} | OBSERVE_TABLES) & tables
        assert CONNECTION_COLUMNS <= columns and not STREAM_COLUMNS & columns
        assert migrate(conn, path, upto=5) == 5 and version_of(conn) == 5
        tables, columns = _shape(conn)
        assert {"connections", "messages"} <= tables and not OBSERVE_TABLES & tables
        assert (CONNECTION_COLUMNS | STREAM_COLUMNS) <= columns
    finally:
        conn.close()
    assert SCHEMA_VERSION == 8
    conn = connect(path)  # a v5 file, as a loadnb with streams but no observing left it
    try:
        assert version_of(conn) == 8
        tables, columns = _shape(conn)
        assert ({"connections", "messages"} | OBSERVE_TABLES) <= tables
        assert (CONNECTION_COLUMNS | STREAM_COLUMNS) <= columns
        assert conn.execute("SELECT DISTINCT connected, interval_messages_sent, "
                            "interval_messages_received FROM snapshots").fetchall() == [(0, 0, 0)]
        assert [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone() for t in sorted(
            OBSERVE_TABLES)] == [(0,), (0,)]
        # v7 (issue 25): the open model's send lag, empty for a run written before it
        assert "send_lag_p99_ms" in columns
        assert conn.execute("SELECT DISTINCT send_lag_p99_ms FROM snapshots").fetchall() == [
            (None,)]
        # v8 (issue 25): the start-up's CPU, unknown (NULL) for a run written before it
        assert conn.execute("SELECT startup_cpu_s FROM runs").fetchall() == [(None,)]
    finally:
        conn.close()
    loaded = load("5702ed", path)
    assert loaded.summary["messages"] == {} and loaded.summary["total_requests"] == 340
    assert loaded.server.empty and loaded.slowest.empty
