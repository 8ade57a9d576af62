"""Exports of one run: every table, the summary and what it takes to load the run back exactly.

Three formats (:meth:`Result.to_json`, :meth:`Result.to_parquet`, :meth:`Result.to_csv`):

- **JSON** — one plain document (``NaN`` and infinities written as ``null``)::

    {"format": "loadnb-run", "version": 1,
     "run": {"run_id", "started_at", "startup_cpu_s", "transport", "state", "error",
             "aborted_by", "url", "target", "params"},
     "summary": {...},                       # Result.summary
     "snapshots": [{...}, ...],              # one per interval (Snapshot fields)
     "totals": {"overall": {...}, "names": [...], "custom": [...], "messages": [...]},
                                             # the run's stats added up (overall, per name,
                                             # custom metrics, message streams), each the
                                             # codec's plain data (loadnb.metrics.codec;
                                             # histograms as base64)
     "stats_timeline": [...], "errors_timeline": [...], "custom": [...], "messages": [...],
     "stats": [...], "errors": [...], "alerts": [...], "thresholds": [...],
     "custom_totals": [...], "warnings": [...], "events": [[elapsed, text], ...],
     "server": [[elapsed, series, value], ...],    # the target's series (scrape=), if any
     "slowest": [[elapsed, name, latency_s, trace_id], ...]}  # trace=True, if any

  The tables are lists of row objects (the DataFrames' columns). ``loadnb.load(path)`` rebuilds
  the run from ``snapshots`` and ``totals`` (:func:`stored`, then the one
  :func:`~loadnb.record.rebuild.rebuild`: the totals come in with the last snapshot, so totals
  and percentiles are exact) and takes the timelines as written (the record keeps no
  per-interval histograms, so neither does the export). A document written before message
  streams existed has no ``messages``: it loads with none.
- **Parquet** — one file: the snapshot table (``Result.df``'s columns, and ``interval_errors`` as
  JSON text); the rest of the JSON document (all but ``snapshots``) is JSON text in the file's
  key-value metadata under ``loadnb``. ``pandas.read_parquet(path)`` gives the snapshots;
  ``loadnb.load(path)`` the whole run.
- **CSV** — one CSV per table (``snapshots``, ``stats``, ``stats_timeline``, ``errors``,
  ``errors_timeline``, ``alerts``, ``thresholds``, ``custom``, ``custom_totals``, ``server``,
  ``slowest``) and the
  summary as JSON, the same for ``--out x.csv`` and ``Result.to_csv``: a path ending in ``.csv``
  holds the snapshots, each other table beside it as ``x_<table>.csv`` and ``x_summary.json``;
  a folder holds ``<table>.csv`` and ``summary.json``. ``stats`` has Locust's columns
  (:data:`CSV_STATS_COLUMNS`) first, then the rest of ``Result.stats``'s. For spreadsheets; it
  does not load back.

Nothing secret is written: the summary and parameters are redacted already, URLs go through
:func:`loadnb.text.redact.redact_url`, error samples were redacted when recorded.

This module is a view, like :mod:`loadnb.results.frame`: pandas and pyarrow are imported inside the
functions. It never imports :mod:`loadnb.results.result` (which calls it) nor the history.
"""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..metrics.codec import Carrier, decode, encode
from ..metrics.connections import ConnectStats
from ..metrics.custom import CUSTOM_TIMELINE_COLUMNS, CustomMetric
from ..metrics.messages import MESSAGES_TIMELINE_COLUMNS, MessageStats
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats
from ..record.rebuild import Stored, StoredInterval
from ..record.record import NAMES_TIMELINE_COLUMNS, RunRecord
from ..record.summary import Summary, summary_of
from ..rules.alert_engine import AlertEvent
from ..text.jsonsafe import json_safe
from ..text.redact import redact_text, redact_url

if TYPE_CHECKING:
    import pandas as pd

    from ..spec.config import LoadSpec

FORMAT = "loadnb-run"
VERSION = 1
#: The key of the run document in a Parquet export's metadata.
PARQUET_KEY = b"loadnb"
PathLike = str | os.PathLike[str]
#: The codec's plain data in the JSON document: histograms as base64 text, NaN and infinities
#: as null (read back as the field's default).
JSON = Carrier("json", blob_out=lambda b: base64.b64encode(b).decode("ascii"),
               blob_in=base64.b64decode, finite=True)
THRESHOLD_COLUMNS = ["expr", "observed", "passed"]
#: What :func:`read` says of a file that is not an export.
NOT_AN_EXPORT = "is not a loadnb export (.json or .parquet written by to_json/to_parquet/--out)"
CSV_TABLES = ("snapshots", "stats", "stats_timeline", "errors", "errors_timeline", "alerts",
              "thresholds", "custom", "custom_totals", "server", "slowest")
#: CSV tables written only when the run has them: ``messages`` (``result.messages``) for a run
#: with message streams (a run without writes exactly the files of :data:`CSV_TABLES`).
CSV_STREAM_TABLES = ("messages",)
#: The columns of the CSV ``stats`` table (``x_stats.csv`` beside ``--out x.csv``, a folder's
#: ``stats.csv``): Locust's, the rows of ``summary["stats"]``.
CSV_STATS_COLUMNS = ("name", "requests", "failed", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data (:func:`loadnb.text.jsonsafe.json_safe`)."""
    return json_safe(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_plain(row) for row in frame.to_dict(orient="records")]


def _tables(record: RunRecord) -> dict[str, pd.DataFrame]:
    """Every table of the run, as :class:`~loadnb.results.result.Result` shows them."""
    import pandas as pd

    from . import frame

    return {
        "snapshots": frame.snapshots_frame(record.snapshots),
        "stats": frame.stats_frame(record.totals, record.duration_s),
        "stats_timeline": frame.names_timeline_frame(record.names_timeline),
        "errors": frame.errors_frame(record.totals, record.overall),
        "errors_timeline": frame.errors_timeline_frame(record.errors_timeline),
        "alerts": frame.alerts_frame(record.alerts),
        "thresholds": pd.DataFrame(record.thresholds, columns=THRESHOLD_COLUMNS),
        "custom": frame.custom_frame(record.custom_timeline),
        "custom_totals": frame.custom_totals_frame(record.custom),
        "server": frame.server_frame(record.server_timeline),
        "slowest": frame.slowest_frame(record.slowest),
    }


def document(record: RunRecord, summary: Summary) -> dict[str, Any]:
    """The run as one plain JSON-ready document (see the module docstring)."""
    spec = record.spec
    params = dict(spec.public_params())
    if isinstance(params.get("url"), str):
        params["url"] = redact_url(params["url"])
    tables = _tables(record)
    doc: dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "run": {"run_id": record.run_id, "started_at": record.started_at,
                "startup_cpu_s": record.startup_cpu, "transport": record.transport,
                "state": record.state,
                "error": None if record.error is None else redact_text(record.error),
                "aborted_by": record.aborted_by, "url": redact_url(spec.url),
                "target": redact_url(spec.target), "params": _plain(params)},
        "summary": _plain(summary),
        "snapshots": [_plain(s.as_row()) for s in record.snapshots],
        "totals": _totals_of(record),
        "stats_timeline": [_plain(dict(zip(NAMES_TIMELINE_COLUMNS, row, strict=True)))
                           for row in record.names_timeline],
        "errors_timeline": [{"elapsed_time": e, "kind": k, "count": n}
                            for e, k, n in record.errors_timeline],
        "custom": [_plain(dict(zip(CUSTOM_TIMELINE_COLUMNS, row, strict=True)))
                   for row in record.custom_timeline],
        "messages": [_plain(dict(zip(MESSAGES_TIMELINE_COLUMNS, row, strict=True)))
                     for row in record.messages_timeline],
        "warnings": list(record.warnings),
        "events": [[e, t] for e, t in record.events],
    }
    if record.server_timeline:  # a run that observes nothing is written as before
        doc["server"] = [[e, redact_text(k), v] for e, k, v in record.server_timeline]
    if record.slowest:
        doc["slowest"] = [[e, redact_text(n), lat, tid] for e, n, lat, tid in record.slowest]
    doc["thresholds"] = _plain(record.thresholds)
    for name in ("stats", "errors", "alerts", "custom_totals"):
        doc[name] = _records(tables[name])
    return doc


def _totals_of(record: RunRecord) -> dict[str, Any]:
    """``totals`` of the document: the per-name stats, all names (``overall``), the custom
    metrics, the connections and the message streams added up over the run, histograms encoded
    (what the record keeps; exact)."""
    return {"overall": encode(record.overall, JSON),
            "names": [encode(iv, JSON) for iv in record.totals.values()],
            "custom": [encode(m, JSON) for m in record.custom.values()],
            "connections": encode(record.connections, JSON),
            "messages": [encode(m, JSON) for m in record.messages.values()]}


def to_json(record: RunRecord, summary: Summary, path: PathLike) -> Path:
    """Write the run as one JSON document (see the module docstring); returns the path."""
    out = Path(path)
    text = json.dumps(document(record, summary), separators=(",", ":"), allow_nan=False)
    out.write_text(text + "\n", encoding="utf-8")
    return out


def to_parquet(record: RunRecord, summary: Summary, path: PathLike) -> Path:
    """Write the run as one Parquet file: the snapshot table, the rest of the document as JSON in
    the key-value metadata (``loadnb``); returns the path."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    doc = document(record, summary)
    del doc["snapshots"]
    frame = _tables(record)["snapshots"]
    frame["interval_errors"] = [json.dumps(s.interval_errors) for s in record.snapshots]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[PARQUET_KEY] = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    out = Path(path)
    pq.write_table(table.replace_schema_metadata(meta), out, compression="zstd")
    return out


def csv_paths(path: PathLike) -> dict[str, Path]:
    """Where :func:`to_csv` writes each of :data:`CSV_TABLES` (and
    :data:`CSV_STREAM_TABLES`) and the summary: for ``x.csv`` the
    snapshots in it and the rest beside it (``x_stats.csv``, ``x_errors.csv``, …,
    ``x_summary.json``); for a folder, ``snapshots.csv``, ``stats.csv``, … and ``summary.json``
    in it."""
    where, names = Path(path), (*CSV_TABLES, *CSV_STREAM_TABLES)
    if where.suffix.lower() != ".csv":
        return {**{name: where / f"{name}.csv" for name in names},
                "summary": where / "summary.json"}
    beside = {name: where.with_name(f"{where.stem}_{name}{where.suffix}") for name in names}
    return {**beside, "snapshots": where, "summary": where.with_name(f"{where.stem}_summary.json")}


def to_csv(record: RunRecord, summary: Summary, path: PathLike) -> Path:
    """Write every table as CSV and the summary as JSON (see :func:`csv_paths` for where: a path
    ending in ``.csv`` or a folder, created); returns ``path``. One format for ``--out x.csv``
    and :meth:`Result.to_csv`: the same tables with the same columns; ``stats`` has the columns
    of :data:`CSV_STATS_COLUMNS` first (Locust's, as ``x_stats.csv`` always had them), then the
    other columns of ``result.stats``. A run with message streams has ``messages`` too
    (:data:`CSV_STREAM_TABLES`)."""
    from .frame import messages_frame

    where = csv_paths(path)
    if Path(path).suffix.lower() != ".csv":
        Path(path).mkdir(parents=True, exist_ok=True)
    tables = _tables(record)
    if record.messages:
        tables["messages"] = messages_frame(record.messages_timeline)
    for name, table in tables.items():
        if name == "stats":  # Locust's columns first, then every other column of result.stats
            rest = [c for c in table.columns if c not in CSV_STATS_COLUMNS]
            table = table[[*CSV_STATS_COLUMNS, *rest]]
        table.to_csv(where[name], index=False)
    where["summary"].write_text(json.dumps(_plain(summary), indent=1) + "\n", encoding="utf-8")
    return Path(path)


def is_path(ref: object) -> bool:
    """``ref`` names a file, not a history run: a path object, or text with a dot or a slash (a
    run id, a prefix of one and ``last`` have neither).

    >>> is_path("run.csv"), is_path("3f2a"), is_path("last")
    (True, False, False)
    """
    if isinstance(ref, os.PathLike):
        return True
    return isinstance(ref, str) and any(c in ref for c in ("/", os.sep, "."))


def read(path: PathLike) -> dict[str, Any]:
    """The run document of an export (JSON or Parquet); ValueError ("... is not a loadnb export
    (...)") for any other file or a missing one."""
    where = Path(path)
    not_export = ValueError(f"{str(where)!r} {NOT_AN_EXPORT}")
    if where.suffix.lower() not in (".json", ".parquet") or not where.is_file():
        raise not_export
    try:
        doc = _read_parquet(where) if where.suffix.lower() == ".parquet" else json.loads(
            where.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not JSON, not Parquet (pyarrow's errors are ValueErrors)
        raise not_export from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise not_export
    if int(doc.get("version", 0)) > VERSION:
        raise ValueError(f"{str(where)!r} is a newer loadnb export (version {doc['version']})")
    if isinstance(doc.get("summary"), dict):  # typed, older key names mapped
        doc["summary"] = summary_of(doc["summary"])
    return doc


def _read_parquet(where: Path) -> Any:
    """The document of a Parquet export (None when the file has no ``loadnb`` metadata)."""
    import pyarrow.parquet as pq

    table = pq.read_table(where)
    raw = (table.schema.metadata or {}).get(PARQUET_KEY)
    if raw is None:
        return None
    doc: dict[str, Any] = json.loads(raw)
    rows = table.to_pylist()
    for row in rows:
        row["interval_errors"] = json.loads(row.get("interval_errors") or "{}")
    doc["snapshots"] = rows
    return doc


def _row(doc: dict[str, Any], columns: tuple[str, ...] | list[str]) -> tuple[Any, ...]:
    return tuple(math.nan if doc.get(c) is None else doc[c] for c in columns)


def stored(doc: dict[str, Any], spec: LoadSpec) -> Stored:
    """What an export document (:func:`read`) keeps of its run, for
    :func:`~loadnb.record.rebuild.rebuild`: the run's totals come with its last interval, the
    timelines as written; ``spec`` stands for the run's spec (secret-free)."""
    run, totals = doc["run"], doc["totals"]
    snaps = [Snapshot.from_row(row) for row in doc["snapshots"]]
    last = StoredInterval(
        {iv.name: iv for iv in (decode(IntervalStats, d, JSON) for d in totals["names"])},
        decode(IntervalStats, totals["overall"], JSON),
        {m.name: m for m in (decode(CustomMetric, d, JSON) for d in totals["custom"])},
        decode(ConnectStats, totals.get("connections") or {}, JSON),
        {m.name: m for m in (decode(MessageStats, d, JSON)
                             for d in totals.get("messages", []))})
    return Stored(
        run["run_id"], spec, run["started_at"], run["transport"], run["state"], run["error"],
        snaps, {len(snaps) - 1: last} if snaps else {},
        alerts=[AlertEvent(a["rule"], a["message"], a["fired_at"], a["cleared_at"])
                for a in doc.get("alerts", [])],
        warnings=list(doc.get("warnings", [])),
        events=[(float(e), str(t)) for e, t in doc.get("events", [])],
        thresholds=[dict(t) for t in doc.get("thresholds", [])],
        aborted_by=run.get("aborted_by"), startup_cpu=run.get("startup_cpu_s"),
        names_timeline=[_row(r, NAMES_TIMELINE_COLUMNS) for r in doc["stats_timeline"]],
        errors_timeline=[(r["elapsed_time"], r["kind"], r["count"])
                         for r in doc["errors_timeline"]],
        custom_timeline=[_row(r, CUSTOM_TIMELINE_COLUMNS) for r in doc["custom"]],
        messages_timeline=[_row(r, MESSAGES_TIMELINE_COLUMNS) for r in doc.get("messages", [])],
        server=[(float(e), str(k), float(v)) for e, k, v in doc.get("server", [])],
        slowest=[(float(e), str(n), float(lat), str(t))
                 for e, n, lat, t in doc.get("slowest", [])])


__all__ = ["CSV_STATS_COLUMNS", "CSV_STREAM_TABLES", "CSV_TABLES", "FORMAT", "JSON",
           "NOT_AN_EXPORT", "PARQUET_KEY",
           "VERSION", "csv_paths", "document", "is_path", "read", "stored", "to_csv", "to_json",
           "to_parquet"]
