"""The history database: where it is, its schema and migrations, connections and busy handling.

One SQLite file in WAL mode (readers never block the writer), opened with a busy timeout; every
write is one short ``BEGIN IMMEDIATE`` transaction, retried when SQLite still answers "busy".
The schema's version is ``PRAGMA user_version``; :data:`MIGRATIONS` bring any older file up to
:data:`SCHEMA_VERSION`, and a file from a newer loadnb is refused before anything is written.

Example::

    path = resolve_path(None)          # LOADNB_HISTORY, else the per-user default (or None: off)
    conn = connect(path)               # created and migrated when needed
    write(conn, lambda c: c.execute("UPDATE runs SET note = ? WHERE run_id = ?", ("x", "ab12")))
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..metrics.codec import Carrier, field_names
from ..text.jsonsafe import json_safe
from ..text.redact import redact_text

#: The schema version this code writes (``PRAGMA user_version``).
SCHEMA_VERSION = 8
ENV = "LOADNB_HISTORY"
BUSY_TIMEOUT_S = 30.0
RETRIES = 50
T = TypeVar("T")

#: Snapshot columns of the ``snapshots`` table as v1 made it (frozen).
_V1_COLUMNS: tuple[tuple[str, str], ...] = (
    ("timestamp", "REAL"), ("elapsed_time", "REAL"), ("progress_percent", "REAL"),
    ("active_users", "INTEGER"), ("completed_requests", "INTEGER"),
    ("failed_requests", "INTEGER"), ("success_rate", "REAL"), ("current_rps", "REAL"),
    ("peak_rps", "REAL"), ("estimated_completion", "REAL"), ("cancelled_requests", "INTEGER"),
    ("interval_requests", "INTEGER"), ("interval_completed", "INTEGER"),
    ("interval_failed", "INTEGER"), ("p50_ms", "REAL"), ("p90_ms", "REAL"), ("p95_ms", "REAL"),
    ("p99_ms", "REAL"), ("max_ms", "REAL"), ("mean_ms", "REAL"), ("service_p50_ms", "REAL"),
    ("service_p90_ms", "REAL"), ("service_p95_ms", "REAL"), ("service_p99_ms", "REAL"),
    ("service_max_ms", "REAL"), ("service_mean_ms", "REAL"), ("bytes_received", "INTEGER"),
    ("target_users", "INTEGER"), ("target_rate", "REAL"), ("in_flight", "INTEGER"),
    ("dropped_arrivals", "INTEGER"), ("interval_dropped", "INTEGER"),
    ("waiting_for_connection", "INTEGER"), ("loop_lag_ms", "REAL"), ("cpu_percent", "REAL"),
    ("phase", "TEXT"), ("event", "TEXT"), ("interval_errors", "TEXT"),
)

_V1 = [
    """CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, started_at REAL NOT NULL, target TEXT NOT NULL,
        model TEXT NOT NULL, transport TEXT NOT NULL DEFAULT '', params TEXT NOT NULL,
        interval REAL NOT NULL, state TEXT NOT NULL, error TEXT, pid INTEGER, host TEXT,
        updated_at REAL NOT NULL, summary TEXT, tags TEXT NOT NULL DEFAULT '[]',
        note TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX runs_started ON runs (started_at)",
    "CREATE TABLE snapshots (run_id TEXT NOT NULL, seq INTEGER NOT NULL, "
    + ", ".join(f"{name} {kind}" for name, kind in _V1_COLUMNS)
    + ", PRIMARY KEY (run_id, seq))",
    """CREATE TABLE intervals (
        run_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, started INTEGER,
        completed INTEGER, failed INTEGER, cancelled INTEGER, bytes INTEGER, corrected INTEGER,
        status TEXT, errors TEXT, samples TEXT, latency BLOB, service BLOB,
        PRIMARY KEY (run_id, seq, name))""",
    """CREATE TABLE alerts (
        run_id TEXT NOT NULL, idx INTEGER NOT NULL, rule TEXT, message TEXT, fired_at REAL,
        cleared_at REAL, PRIMARY KEY (run_id, idx)) WITHOUT ROWID""",
    """CREATE TABLE warnings (run_id TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT,
        PRIMARY KEY (run_id, idx)) WITHOUT ROWID""",
]
_V2 = [
    """CREATE TABLE events (run_id TEXT NOT NULL, idx INTEGER NOT NULL, elapsed REAL, text TEXT,
        PRIMARY KEY (run_id, idx)) WITHOUT ROWID""",
]
#: Snapshot columns added after v1, with the version that added them. A new Snapshot field gets
#: a line here (and a migration below); ``tests/history/test_history.py`` checks every field has
#: one.
_ADDED_COLUMNS: tuple[tuple[int, str, str], ...] = (
    (3, "workers", "INTEGER NOT NULL DEFAULT 0"),
    (4, "interval_connections", "INTEGER NOT NULL DEFAULT 0"),
    (4, "connect_p50_ms", "REAL"), (4, "connect_p95_ms", "REAL"),
    (4, "tls_p50_ms", "REAL"), (4, "tls_p95_ms", "REAL"),
    (5, "connected", "INTEGER NOT NULL DEFAULT 0"),
    (5, "interval_messages_sent", "INTEGER NOT NULL DEFAULT 0"),
    (5, "interval_messages_received", "INTEGER NOT NULL DEFAULT 0"),
    (7, "send_lag_p99_ms", "REAL"),
)
#: Every column of the ``snapshots`` table (a row is written and read by these names).
SNAPSHOT_COLUMNS: tuple[tuple[str, str], ...] = _V1_COLUMNS + tuple(
    (name, kind) for _, name, kind in _ADDED_COLUMNS)
_V3 = [f"ALTER TABLE snapshots ADD COLUMN {name} {kind}"
       for version, name, kind in _ADDED_COLUMNS if version == 3] + [
    """CREATE TABLE custom (
        run_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        count INTEGER, total REAL, last REAL, min REAL, max REAL, hist BLOB,
        PRIMARY KEY (run_id, seq, name))""",
    "ALTER TABLE runs ADD COLUMN thresholds TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE intervals ADD COLUMN checks TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE intervals ADD COLUMN iterations TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE intervals ADD COLUMN iteration_errors TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE runs ADD COLUMN aborted_by TEXT",
]
_V4 = [f"ALTER TABLE snapshots ADD COLUMN {name} {kind}"
       for version, name, kind in _ADDED_COLUMNS if version == 4] + [
    """CREATE TABLE connections (
        run_id TEXT NOT NULL, seq INTEGER NOT NULL, opened INTEGER, connect BLOB, tls BLOB,
        protocol TEXT, PRIMARY KEY (run_id, seq))""",
]
_V5 = [f"ALTER TABLE snapshots ADD COLUMN {name} {kind}"
       for version, name, kind in _ADDED_COLUMNS if version == 5] + [
    """CREATE TABLE messages (
        run_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        opened INTEGER, failed INTEGER, closed INTEGER, sent INTEGER, received INTEGER,
        bytes_sent INTEGER, bytes_received INTEGER, close_codes TEXT, errors TEXT, samples TEXT,
        first_message BLOB, reply BLOB, PRIMARY KEY (run_id, seq, name))""",
]
_V6 = [  # the target's series (scrape=, watch_pid=) and the slowest traced requests
    """CREATE TABLE server (run_id TEXT NOT NULL, elapsed REAL NOT NULL, series TEXT NOT NULL,
        value REAL)""",
    "CREATE INDEX server_run ON server (run_id)",
    """CREATE TABLE slowest (run_id TEXT NOT NULL, elapsed REAL NOT NULL, name TEXT,
        latency REAL, trace_id TEXT)""",
    "CREATE INDEX slowest_run ON slowest (run_id)",
]
_V7 = [f"ALTER TABLE snapshots ADD COLUMN {name} {kind}"  # the open model's send lag
       for version, name, kind in _ADDED_COLUMNS if version == 7]
_V8 = ["ALTER TABLE runs ADD COLUMN startup_cpu_s REAL"]  # the start-up's CPU (NULL: unknown)
#: ``MIGRATIONS[n - 1]`` brings a database of version ``n - 1`` to version ``n``.
MIGRATIONS: tuple[list[str], ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8)
TABLES = ("runs", "snapshots", "intervals", "alerts", "warnings", "events", "custom",
          "connections", "messages", "server", "slowest")


class HistoryError(ValueError):
    """A history problem to report in one line (no run, ambiguous id, a newer database)."""


# -- where ---------------------------------------------------------------------------------
def default_path() -> Path:
    """``platformdirs.user_data_dir("loadnb")/history.sqlite`` (e.g. ~/.local/share/loadnb)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("loadnb")) / "history.sqlite"


def resolve_path(history: str | os.PathLike[str] | None) -> Path | None:
    """The database of a run or a query: ``history`` if given (``"off"``: None), else
    ``LOADNB_HISTORY`` (a path, or ``off``), else :func:`default_path`.

    >>> resolve_path("off") is None
    True
    """
    text = os.fspath(history) if history is not None else os.environ.get(ENV, "").strip()
    if text.lower() == "off":
        return None
    return Path(text).expanduser() if text else default_path()


# -- redaction -----------------------------------------------------------------------------
SECRET_QUERY_KEYS = ("token", "key", "api_key", "apikey", "password", "secret", "signature",
                     "access_token")
_SECRET_QUERY = re.compile(r"(?i)(?<![\w-])(" + "|".join(SECRET_QUERY_KEYS) + r")=[^&#\s;\"']*")


def redact_query(text: str) -> str:
    """``text`` with URL passwords and secret query values (``token=``, ``api_key=``, …) as ``***``.

    >>> redact_query("http://u:pw@127.0.0.1/a?token=abc&page=2")
    'http://u:***@127.0.0.1/a?token=***&page=2'
    """
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", redact_text(text))


def dumps(value: Any) -> str:
    """Strict JSON (NaN and infinities as null), secrets redacted."""
    return redact_query(json.dumps(json_safe(value), separators=(",", ":")))


# -- rows ----------------------------------------------------------------------------------
def _inflate(blob: bytes) -> bytes:
    """A stored histogram: zlib-compressed, or a plain encoding (as in the v1 fixture)."""
    return blob if blob[:4] == b"LNH1" else zlib.decompress(blob)


#: The codec's plain data in the history's rows: one column per field, by name; histograms
#: zlib-compressed (about half the size), nested values as JSON text, texts redacted, NaN and
#: infinities as NULL (read back as the field's default).
ROWS = Carrier("sqlite", blob_out=lambda b: zlib.compress(b, 1), blob_in=_inflate,
               nested_out=dumps, nested_in=json.loads, text_out=redact_query, finite=True)


def insert_sql(table: str, cls: type) -> str:
    """``INSERT OR REPLACE`` of one ``cls`` row of ``table``: ``run_id, seq``, then its fields."""
    names = ("run_id", "seq", *field_names(cls))
    return (f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))})")


# -- connections ---------------------------------------------------------------------------
def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def retry(fn: Callable[[], T], retries: int = RETRIES) -> T:
    """``fn()``, again after a short pause while SQLite answers "database is locked"/"busy"."""
    for attempt in range(retries):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or attempt == retries - 1:
                raise
            time.sleep(min(0.01 * 2 ** min(attempt, 5), 0.2))
    raise AssertionError("unreachable")  # pragma: no cover


def version_of(conn: sqlite3.Connection) -> int:
    """The database's schema version (``PRAGMA user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _check_version(conn: sqlite3.Connection, path: Path) -> int:
    version = retry(lambda: version_of(conn))
    if version > SCHEMA_VERSION:
        raise HistoryError(f"the history database {str(path)!r} has schema version {version}, "
                           f"newer than this loadnb knows ({SCHEMA_VERSION}); upgrade loadnb "
                           "(the file is left untouched)")
    return version


def check_writable(path: Path) -> None:
    """Raise :class:`HistoryError` unless a run can keep its history at ``path``: the file a
    history database (of this schema or an older one) or not there yet, and its folder (or the
    nearest one that exists, where the missing ones would be made) a folder a file can be made in
    (the journal goes beside the database). Nothing is created or changed."""
    if path.is_dir():
        raise HistoryError(f"{str(path)!r} is a directory, not a database file")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise HistoryError(f"{str(folder)!r} is not a directory")
    try:  # a real file, as SQLite makes its journal: permissions, read-only or /proc
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise HistoryError(f"cannot write in {str(folder)!r}: {exc.strerror or exc}") from None
    if path.exists():
        _check_database(path)


def _check_database(path: Path) -> None:
    """Raise :class:`HistoryError` unless ``path`` is a database of this schema or an older one
    (read only)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot open {str(path)!r}: {exc}") from None
    try:
        _check_version(conn, path)
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"{str(path)!r} is not a history database ({exc})") from None
    finally:
        conn.close()


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """A connection to the history at ``path``, migrated to :data:`SCHEMA_VERSION`.

    ``create=False`` raises :class:`HistoryError` when there is no database yet. A database of
    a newer schema raises :class:`HistoryError` and is not modified (checked before WAL is set).
    """
    if not path.exists():
        if not create:
            raise HistoryError(f"no history database at {str(path)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)
    try:
        _check_version(conn, path)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, path: Path, upto: int = SCHEMA_VERSION) -> int:
    """Apply the missing :data:`MIGRATIONS` (one transaction); returns the version reached."""
    if _check_version(conn, path) >= upto:
        return upto

    def step(c: sqlite3.Connection) -> int:
        version = _check_version(c, path)  # another process may have migrated meanwhile
        for number in range(version + 1, upto + 1):
            for statement in MIGRATIONS[number - 1]:
                c.execute(statement)
        c.execute(f"PRAGMA user_version = {max(version, upto)}")
        return max(version, upto)

    return write(conn, step)


def write(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction, retried while busy."""
    def attempt() -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return out

    return retry(attempt)


__all__ = ["ENV", "MIGRATIONS", "ROWS", "SCHEMA_VERSION", "SNAPSHOT_COLUMNS", "TABLES",
           "HistoryError", "check_writable", "connect", "default_path", "dumps", "insert_sql",
           "migrate", "redact_query", "resolve_path", "retry", "version_of", "write"]
