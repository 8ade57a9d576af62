"""Reading the history: list runs, load one back as a :class:`~loadnb.results.result.Result`, tag,
note, delete, prune.

A loaded run is rebuilt as the live one was (:func:`~loadnb.record.rebuild.rebuild`): a
:class:`~loadnb.record.record.RunRecord` whose totals merge the stored per-name interval stats
(exact: the histograms are stored encoded, :data:`~loadnb.history.store.ROWS`), so ``df``,
``stats``, ``errors``, ``alerts`` and ``summary`` are the live run's. A run whose writer died
(state ``running``, its process gone, or silent for long) is listed as ``interrupted``.

Example::

    runs = list_runs(limit=10)               # newest first, plain dicts
    result = load("last")                    # or a unique prefix of a run id
    tag("last", "baseline")
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..metrics.codec import decode, decode_histogram
from ..metrics.connections import ConnectStats
from ..metrics.custom import CustomMetric
from ..metrics.histogram import Histogram
from ..metrics.messages import MessageStats
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats
from ..record.rebuild import Stored, StoredInterval, rebuild
from ..record.summary import Quantiles, summary_of
from ..results.result import Result
from ..rules.alert_engine import AlertEvent
from .spec import StoredSpec
from .store import ROWS, TABLES, HistoryError, connect, resolve_path, write

if TYPE_CHECKING:
    from ..spec.config import LoadSpec

#: A running run is ``interrupted`` when silent this many intervals (and at least STALE_MIN_S).
STALE_INTERVALS = 10
STALE_MIN_S = 30.0
PathLike = str | os.PathLike[str] | None
#: The keys of a run as :func:`list_runs` gives it (``loadnb.history()``'s columns, ``loadnb
#: history --json``'s keys).
LISTING_COLUMNS = ("run_id", "started_at", "target", "model", "duration_s", "requests",
                   "success_rate", "rps", "p95_ms", "p99_ms", "state", "snapshots", "tags", "note")


@contextmanager
def opened(path: PathLike = None, *, create: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection to the history (``path``, else LOADNB_HISTORY, else the default place)."""
    where = resolve_path(path)
    if where is None:
        raise HistoryError("the history is off (LOADNB_HISTORY=off)")
    conn = connect(where, create=create)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs: it exists and has not exited (a zombie, exited but
    not yet reaped by its parent, answers signal 0 yet runs nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists
        pass
    return not _exited(pid)


def _exited(pid: int) -> bool:
    """``/proc`` says ``pid`` is a zombie or gone (False where there is no ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return Path("/proc/self/stat").exists()  # a /proc without it: gone meanwhile
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[:1]  # the name in () may hold spaces and ")"
    return state in (["Z"], ["X"])


def state_of(row: sqlite3.Row, now: float | None = None) -> str:
    """The run's state, ``interrupted`` for a ``running`` one whose writer is gone."""
    if row["state"] != "running":
        return str(row["state"])
    now = time.time() if now is None else now
    if row["host"] == socket.gethostname() and row["pid"] and not _alive(int(row["pid"])):
        return "interrupted"
    stale = max(STALE_INTERVALS * float(row["interval"] or 0.5), STALE_MIN_S)
    return "interrupted" if now - float(row["updated_at"]) > stale else "running"


def resolve_id(conn: sqlite3.Connection, ref: str) -> str:
    """The run id of ``ref``: ``last``, a full id or a unique prefix (HistoryError otherwise)."""
    ref = ref.strip()
    if ref == "last":
        row = conn.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        if row is None:
            raise HistoryError("the history has no run yet")
        return str(row[0])
    if not ref or any(c in ref for c in "%_"):
        raise HistoryError(f"not a run id: {ref!r}")
    ids = [r[0] for r in conn.execute("SELECT run_id FROM runs WHERE run_id LIKE ? LIMIT 6",
                                      (ref + "%",))]
    if not ids:
        raise HistoryError(f"no run in the history matches {ref!r}")
    if len(ids) > 1:
        raise HistoryError(f"{ref!r} is ambiguous: {', '.join(sorted(ids))}")
    return str(ids[0])


def kept_latency(conn: sqlite3.Connection, run_id: str) -> Quantiles:
    """The run's latency summary (ms), as its loaded summary's ``latency_ms``, from the kept
    intervals: what a run that never wrote its summary (killed, or still running) has."""
    hist = Histogram()
    for (blob,) in conn.execute("SELECT latency FROM intervals WHERE run_id = ?", (run_id,)):
        if blob is not None:
            hist.merge(decode_histogram(blob, ROWS))
    return cast("Quantiles", hist.summary())


def _listing(conn: sqlite3.Connection, row: sqlite3.Row, now: float) -> dict[str, Any]:
    stored = summary_of(json.loads(row["summary"])) if row["summary"] else None
    last = {k: row[k] for k in ("elapsed_time", "completed_requests", "failed_requests",
                                "cancelled_requests", "success_rate")}
    duration = float(last["elapsed_time"] or 0.0)
    answered = (last["completed_requests"] or 0) + (last["failed_requests"] or 0)
    lat = kept_latency(conn, row["run_id"]) if stored is None else stored["latency_ms"]
    return {
        "run_id": row["run_id"],
        "started_at": datetime.fromtimestamp(row["started_at"], timezone.utc).isoformat(),
        "target": row["target"], "model": row["model"], "duration_s": round(duration, 3),
        "requests": answered + (last["cancelled_requests"] or 0),
        "success_rate": last["success_rate"],
        "rps": round(answered / duration, 3) if duration > 0 else 0.0,
        "p95_ms": lat["p95"], "p99_ms": lat["p99"],
        "state": state_of(row, now), "snapshots": row["snapshots"],
        "tags": json.loads(row["tags"]), "note": row["note"],
    }


def list_runs(path: PathLike = None, *, limit: int | None = None,
              target: str | None = None) -> list[dict[str, Any]]:
    """The runs, newest first: ``run_id, started_at, target, model, duration_s, requests,
    success_rate, rps, p95_ms, p99_ms, state, snapshots, tags, note`` (percentiles of a run
    that wrote no summary from its kept intervals). No database: ``[]``."""
    where = resolve_path(path)
    if where is None or not where.exists():
        return []
    sql = ("SELECT r.*, (SELECT COUNT(*) FROM snapshots s WHERE s.run_id = r.run_id) AS snapshots,"
           " l.elapsed_time, l.completed_requests, l.failed_requests, l.cancelled_requests,"
           " l.success_rate FROM runs r LEFT JOIN snapshots l ON l.run_id = r.run_id AND l.seq ="
           " (SELECT MAX(seq) FROM snapshots m WHERE m.run_id = r.run_id)")
    args: list[Any] = []
    if target is not None:
        sql, args = sql + " WHERE r.target LIKE ?", ["%" + target + "%"]
    sql += " ORDER BY r.started_at DESC"
    if limit is not None:
        sql, args = sql + " LIMIT ?", [*args, int(limit)]
    with opened(where) as conn:
        now = time.time()
        return [_listing(conn, row, now) for row in conn.execute(sql, args).fetchall()]


def _stored(conn: sqlite3.Connection, run: sqlite3.Row) -> Stored:
    """What the history keeps of the run ``run``: every interval's stats, per name."""
    run_id = run["run_id"]
    q = "SELECT * FROM {} WHERE run_id = ? ORDER BY {}"
    seqs, snaps = [], []
    for row in conn.execute(q.format("snapshots", "seq"), (run_id,)):
        seqs.append(row["seq"])
        snaps.append(Snapshot.from_row(row))
    position = {seq: i for i, seq in enumerate(seqs)}
    parts = {i: StoredInterval() for i in range(len(snaps))}
    for row in conn.execute(q.format("intervals", "seq, rowid"), (run_id,)):
        if row["seq"] in position:  # the names in the order written: the live run's
            parts[position[row["seq"]]].names[row["name"]] = decode(IntervalStats, dict(row),
                                                                    ROWS)
    for row in conn.execute(q.format("custom", "seq, rowid"), (run_id,)):
        if row["seq"] in position:
            part = parts[position[row["seq"]]]
            part.custom = part.custom or {}
            part.custom[row["name"]] = decode(CustomMetric, dict(row), ROWS)
    for row in conn.execute(q.format("messages", "seq, rowid"), (run_id,)):
        if row["seq"] in position:
            part = parts[position[row["seq"]]]
            part.messages = part.messages or {}
            part.messages[row["name"]] = decode(MessageStats, dict(row), ROWS)
    for row in conn.execute(q.format("connections", "seq"), (run_id,)):
        if row["seq"] in position:
            parts[position[row["seq"]]].connections = decode(ConnectStats, dict(row), ROWS)
    return Stored(
        run_id, StoredSpec.from_row(run), run["started_at"], run["transport"], state_of(run),
        run["error"], snaps, parts, thresholds=json.loads(run["thresholds"] or "[]"),
        aborted_by=run["aborted_by"], startup_cpu=run["startup_cpu_s"],
        alerts=[AlertEvent(r["rule"], r["message"], r["fired_at"], r["cleared_at"])
                for r in conn.execute(q.format("alerts", "idx"), (run_id,))],
        warnings=[r["text"] for r in conn.execute(q.format("warnings", "idx"), (run_id,))],
        events=[(r["elapsed"], r["text"]) for r in conn.execute(q.format("events", "idx"),
                                                                (run_id,))],
        server=[(r["elapsed"], r["series"], r["value"])
                for r in conn.execute(q.format("server", "rowid"), (run_id,))],
        slowest=[(r["elapsed"], r["name"], r["latency"], r["trace_id"])
                 for r in conn.execute(q.format("slowest", "rowid"), (run_id,))])


def load(ref: str | os.PathLike[str] = "last", path: PathLike = None) -> Result:
    """The run ``ref`` (``last``, an id or a unique prefix) as a :class:`Result`; a path (text
    with a dot or a slash, or a path object) loads that export (``.json`` / ``.parquet``, see
    :mod:`loadnb.results.export`), and anything else there is a ValueError that says so.

    >>> loadnb.load("last").summary["state"]  # doctest: +SKIP
    'done'
    """
    from ..results import export

    if export.is_path(ref):
        doc = export.read(ref)
        run = doc["run"]
        return Result(rebuild(export.stored(doc, cast("LoadSpec", StoredSpec(
            str(run.get("url") or ""), str(run.get("target") or ""), dict(run["params"]))))))
    ref = str(ref)
    with opened(path) as conn:
        run_id = resolve_id(conn, ref)
        row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return Result(rebuild(_stored(conn, row)))


def _ref_of(run: object) -> str:
    return run.run_id if isinstance(run, Result) else str(run)


def tag(run: object, label: str, path: PathLike = None) -> list[str]:
    """Add ``label`` to the run's tags (a Result, an id, a prefix or ``last``); the tags."""
    with opened(path) as conn:
        run_id = resolve_id(conn, _ref_of(run))

        def tx(c: sqlite3.Connection) -> list[str]:
            tags: list[str] = json.loads(c.execute("SELECT tags FROM runs WHERE run_id = ?",
                                                   (run_id,)).fetchone()[0])
            if label not in tags:
                tags.append(label)
            c.execute("UPDATE runs SET tags = ? WHERE run_id = ?", (json.dumps(tags), run_id))
            return tags

        return write(conn, tx)


def note(run: object, text: str, path: PathLike = None) -> None:
    """Set the run's note (free text)."""
    with opened(path) as conn:
        run_id = resolve_id(conn, _ref_of(run))
        write(conn, lambda c: c.execute("UPDATE runs SET note = ? WHERE run_id = ?",
                                        (text, run_id)))


def _delete(c: sqlite3.Connection, ids: list[str]) -> None:
    for table in TABLES:  # every table (custom metrics too)
        c.executemany(f"DELETE FROM {table} WHERE run_id = ?", [(i,) for i in ids])


def delete(run: object, path: PathLike = None) -> str:
    """Delete one run and everything of it; returns its id."""
    with opened(path) as conn:
        run_id = resolve_id(conn, _ref_of(run))
        write(conn, lambda c: _delete(c, [run_id]))
        return run_id


def prune(*, older_than: float | None = None, keep: int | None = None,
          path: PathLike = None) -> list[str]:
    """Delete finished (or interrupted) runs started more than ``older_than`` seconds ago and
    those beyond the newest ``keep``; returns the ids deleted. Live runs are never deleted."""
    where = resolve_path(path)
    if where is None or not where.exists():
        return []
    with opened(where) as conn:
        rows = list(conn.execute("SELECT * FROM runs ORDER BY started_at DESC"))
        now, doomed = time.time(), []
        for index, row in enumerate(rows):
            old = older_than is not None and now - row["started_at"] > older_than
            if (old or (keep is not None and index >= keep)) and state_of(row, now) != "running":
                doomed.append(str(row["run_id"]))
        if doomed:
            write(conn, lambda c: _delete(c, doomed))
        return doomed


__all__ = ["LISTING_COLUMNS", "delete", "kept_latency", "list_runs", "load", "note", "opened",
           "prune", "resolve_id", "state_of", "tag"]
