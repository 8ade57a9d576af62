"""The history writer: a sink of the run record that keeps the run in SQLite as it goes.

At open it writes the run's row (state ``running``, the writer's pid and host); per snapshot, in
one short transaction, the snapshot, the per-name stats and the custom metrics of its interval
(the codec's plain data, one column per field: :data:`~loadnb.history.store.ROWS`), the new
alert fires and clears, warnings and live-change events; at close the summary and the
final state. A run killed mid-way keeps everything up to its last written interval. Every text
stored goes through :func:`~loadnb.history.store.redact_query` (no URL password or query secret).

Example::

    writer = SqliteWriter(run.record, Path("/tmp/h.sqlite"))
    run.subscribe(writer)          # Run does this itself through loadnb.history.open_writer
    ...
    writer.close()                 # once run.record.state is final
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..metrics.codec import encode
from ..metrics.connections import ConnectStats
from ..metrics.custom import CustomMetric
from ..metrics.messages import MessageStats
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats
from ..record.record import RunRecord
from ..record.summary import build_summary
from ..record.update import Update
from ..rules.alert_engine import AlertEvent
from .store import ROWS, SNAPSHOT_COLUMNS, connect, dumps, insert_sql, redact_query, write

_SNAP_SQL = (f"INSERT OR REPLACE INTO snapshots (run_id, seq, "
             f"{', '.join(n for n, _ in SNAPSHOT_COLUMNS)}) "
             f"VALUES ({', '.join('?' * (len(SNAPSHOT_COLUMNS) + 2))})")
_IV_SQL = insert_sql("intervals", IntervalStats)
_CUSTOM_SQL = insert_sql("custom", CustomMetric)
_CONN_SQL = insert_sql("connections", ConnectStats)
_MESSAGES_SQL = insert_sql("messages", MessageStats)


def snapshot_row(run_id: str, seq: int, snap: Snapshot) -> tuple[Any, ...]:
    """The ``snapshots`` row of ``snap``, by column name (``interval_errors`` as JSON, texts
    redacted; a column the snapshot lacks is NULL)."""
    values = [getattr(snap, name, None) for name, _ in SNAPSHOT_COLUMNS]
    values[_ERRORS] = dumps(snap.interval_errors)
    values[_EVENT] = redact_query(snap.event)
    return (run_id, seq, *values)


_ERRORS = [name for name, _ in SNAPSHOT_COLUMNS].index("interval_errors")
_EVENT = [name for name, _ in SNAPSHOT_COLUMNS].index("event")


def stats_row(run_id: str, seq: int,
              part: IntervalStats | CustomMetric | ConnectStats | MessageStats
              ) -> tuple[Any, ...]:
    """The ``intervals`` row of one name's stats, the ``custom`` row of one custom metric, the
    ``connections`` row or the ``messages`` row of one message stream, for one interval:
    ``run_id, seq`` and the codec's fields (:func:`insert_sql`'s columns)."""
    return (run_id, seq, *encode(part, ROWS).values())


class SqliteWriter:
    """Keeps ``record``'s run in the history at ``path`` (a sink; see the module docstring)."""

    def __init__(self, record: RunRecord, path: Path) -> None:
        self.record, self.path = record, path
        self.conn: sqlite3.Connection | None = connect(path)
        self._seq = self._alerts = self._warnings = self._events = 0
        self._active: list[int] = []  # indexes of written alerts not yet cleared
        write(self.conn, self._insert_run)

    def __repr__(self) -> str:
        return f"<history writer {self.record.run_id} → {self.path}>"

    def _insert_run(self, conn: sqlite3.Connection) -> None:
        r, spec = self.record, self.record.spec
        conn.execute(
            "INSERT OR REPLACE INTO runs (run_id, started_at, target, model, transport, params, "
            "interval, state, pid, host, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (r.run_id, r.started_at, redact_query(spec.target), spec.model, r.transport,
             dumps(spec.public_params()), spec.interval, "running", os.getpid(),
             socket.gethostname(), time.time()))

    def __call__(self, update: Update) -> None:
        """Write one interval (the snapshot and what came with it): one transaction."""
        if self.conn is None:
            return
        seq = self._seq
        snap = update.snapshot

        def tx(conn: sqlite3.Connection) -> None:
            run_id = self.record.run_id
            conn.execute(_SNAP_SQL, snapshot_row(run_id, seq, snap))
            conn.executemany(_IV_SQL, [stats_row(run_id, seq, p)
                                       for p in update.by_name.values()])
            conn.executemany(_CUSTOM_SQL, [stats_row(run_id, seq, m)
                                           for m in update.custom.values()])
            conn.executemany(_MESSAGES_SQL, [stats_row(run_id, seq, m)
                                             for m in update.messages.values()])
            opened = self.record.last_connections
            if opened.opened or opened.protocol:
                conn.execute(_CONN_SQL, stats_row(run_id, seq, opened))
            conn.executemany("INSERT INTO server VALUES (?, ?, ?, ?)",
                             [(run_id, t, redact_query(k), v) for t, k, v in update.server_rows])
            conn.executemany("INSERT INTO slowest VALUES (?, ?, ?, ?, ?)",
                             [(run_id, t, redact_query(n), lat, tid)
                              for t, n, lat, tid in update.slowest])
            self._write_news(conn, update.alerts, update.warnings, update.events)
            conn.execute("UPDATE runs SET updated_at = ?, transport = ?, thresholds = ?, "
                         "aborted_by = ?, startup_cpu_s = ? WHERE run_id = ?",
                         (time.time(), self.record.transport, dumps(list(update.thresholds)),
                          update.aborted_by, self.record.startup_cpu, run_id))

        write(self.conn, tx)
        self._seq = seq + 1

    def _write_news(self, conn: sqlite3.Connection, alerts: Sequence[AlertEvent],
                    warnings: Sequence[str], events: Sequence[tuple[float, str]]) -> None:
        """New alert fires and clears, warnings and events since the last write."""
        run_id = self.record.run_id
        cleared = [i for i in self._active if alerts[i].cleared_at is not None]
        conn.executemany("UPDATE alerts SET cleared_at = ? WHERE run_id = ? AND idx = ?",
                         [(alerts[i].cleared_at, run_id, i) for i in cleared])
        new = list(enumerate(alerts))[self._alerts:]
        conn.executemany("INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
                         [(run_id, i, e.rule, redact_query(e.message), e.fired_at, e.cleared_at)
                          for i, e in new])
        conn.executemany("INSERT OR REPLACE INTO warnings VALUES (?, ?, ?)",
                         [(run_id, i, redact_query(t))
                          for i, t in enumerate(warnings) if i >= self._warnings])
        conn.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?)",
                         [(run_id, i, t, redact_query(text))
                          for i, (t, text) in enumerate(events) if i >= self._events])
        self._active = [i for i in self._active if i not in cleared]
        self._active += [i for i, e in new if e.cleared_at is None]
        self._alerts, self._warnings, self._events = len(alerts), len(warnings), len(events)

    def close(self) -> None:
        """Write the summary and the final state (``done``, ``stopped`` or ``failed``); close."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        r = self.record
        summary = dumps(build_summary(r))

        def tx(c: sqlite3.Connection) -> None:
            self._write_news(c, r.alerts, r.warnings, r.events)
            c.execute("UPDATE runs SET state = ?, error = ?, summary = ?, transport = ?, "
                      "thresholds = ?, aborted_by = ?, updated_at = ? WHERE run_id = ?",
                      (r.state, None if r.error is None else redact_query(r.error), summary,
                       r.transport, dumps(r.thresholds), r.aborted_by, time.time(), r.run_id))

        try:
            write(conn, tx)
        finally:
            conn.close()


__all__ = ["SqliteWriter", "snapshot_row", "stats_row"]
