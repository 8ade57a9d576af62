"""The Dask driver's memory over a long run: does its resident memory (RSS) stay flat?

The driver side of a run on Dask, on the real code, for synthetic workers: every tick each of
``--workers`` workers' interval message comes off the wire (msgpack, as the event subscription
hands it over), reaches its :class:`~loadnb.distributed.source.WorkerSource` (or, above 64
workers, its group's part reaches the :class:`~loadnb.distributed.grouped.GroupedSource`: the
fan-in, :mod:`loadnb.distributed.fanin`), and the run's own
:class:`~loadnb.runner.monitor.Monitor` (built by :class:`~loadnb.runner.run.Run`: its alert
engine with the default rules, its threshold judge) merges them and writes the run's record
(snapshots, the per-name and per-worker timelines) and hands an
:class:`~loadnb.record.update.Update` to a sink. The workers' payloads are
:mod:`benchmarks.merge_cost`'s (``--names`` request names, as busy as a real worker's in 0.5 s).
No socket is opened and no load is sent.

The monitor's clock is a fake one that moves 0.5 s a tick: ``--ticks 1200`` is a 10-minute run,
fed as fast as the machine merges (well under a minute of wall time at 64 workers, not ten).
Every ``--every`` ticks it prints the RSS (``/proc``, through psutil) and the bytes the record's
growing parts hold (:class:`PartSizes`), as a table, or one JSON line per sample with ``--json``:
``{"tick", "elapsed_s", "rss_mb", "record_mb", "parts": {name: bytes}, "wall_s"}``; then a
summary line: RSS and record growth per tick from the first sample on.

    .venv/bin/python benchmarks/driver_memory.py --workers 64 --names 16 \\
        --ticks 1200 --every 60
    .venv/bin/python benchmarks/driver_memory.py --workers 1000 --names 64 \\
        --ticks 240 --every 60 --json

``--history`` adds the history writer (SQLite, in a temporary directory) as the first sink, as a
run with the history on has (SQLite's page cache grows with the database, up to 2 MB).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import the package by its name
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgpack  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

from benchmarks.merge_cost import (
    MANY_NAMES_REQUESTS,
    ONE_NAME_REQUESTS,
    leader_tick,
    member_wires,
    wires,
)
from loadnb.distributed.fanin import PartMerge, plan_groups
from loadnb.distributed.grouped import GroupedSource
from loadnb.distributed.source import ClusterSource, WorkerSource
from loadnb.record.record import RunRecord
from loadnb.record.state import RunState
from loadnb.record.update import Update
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec

#: The record's parts that grow with the run (one entry per interval, or per interval and name
#: or worker); the rest are a few objects whatever the run's length.
PARTS = ("snapshots", "names_timeline", "workers_timeline", "errors_timeline", "events",
         "alerts", "warnings", "slowest", "custom_timeline", "messages_timeline",
         "server_timeline")


class Clock:
    """The monitor's clock: it moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def deep_size(obj: object, shared: set[int]) -> int:
    """Bytes ``obj`` holds, following containers, instances' ``__dict__``/``__slots__`` and
    counting numpy arrays' buffers, each object once; a string in ``shared`` (the ids of those
    counted before: request names, rule names) is not counted again."""
    seen: set[int] = set()
    stack, total = [obj], 0
    while stack:
        o = stack.pop()
        if id(o) in seen or id(o) in shared or isinstance(o, type):
            continue
        (shared if isinstance(o, str) else seen).add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, np.ndarray):
            if o.base is not None and not isinstance(o.base, bytes):
                stack.append(o.base)
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple | set | frozenset):
            stack.extend(o)
        elif not isinstance(o, str | bytes | int | float | bool):
            if hasattr(o, "__dict__"):
                stack.append(vars(o))
            for klass in type(o).__mro__:
                stack.extend(getattr(o, s) for s in getattr(klass, "__slots__", ())
                             if isinstance(s, str) and hasattr(o, s))
    return total


class PartSizes:
    """Bytes held by each growing part of a record (:data:`PARTS`), walked incrementally: the
    parts only ever grow at the end, so each sample walks only the entries added since the last
    one (walking all of them would allocate, at each sample, as much as the record holds)."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.walked = dict.fromkeys(PARTS, 0)
        self.entries = dict.fromkeys(PARTS, 0)
        self.shared: set[int] = set()

    def __call__(self) -> dict[str, int]:
        out = {}
        for name in PARTS:
            part = getattr(self.record, name)
            if hasattr(part, "nbytes"):  # stored by column: its chunks
                out[name] = sys.getsizeof(part) + int(part.nbytes)
                continue
            start, self.walked[name] = self.walked[name], len(part)
            self.entries[name] += sum(deep_size(e, self.shared) for e in part[start:])
            out[name] = sys.getsizeof(part) + self.entries[name]
        return out


Feed = Callable[[], None]


def direct_feed(sources: list[WorkerSource], names: int, requests: int) -> Feed:
    """Every worker's message of a tick off the wire into its source."""
    wire = wires(names, requests)

    def feed() -> None:
        for source in sources:
            msg = msgpack.unpackb(wire[source.index % len(wire)], raw=False,
                                  strict_map_key=False)
            source.receive(msg["payload"])
    return feed


def grouped_feed(sources: list[WorkerSource], grouped: GroupedSource, names: int,
                 requests: int) -> Feed:
    """Every group's part of a tick off the wire into the grouped source (the leaders' parts
    are made once, by the real leader merge, from every member's own message)."""
    members, merge = member_wires(names, requests, len(sources)), PartMerge()
    wire = [leader_tick(merge, [members[i] for i in g.members])[0]
            for g in plan_groups(len(sources))]
    del members

    def feed() -> None:
        for raw in wire:
            part = msgpack.unpackb(raw, raw=False, strict_map_key=False)["part"]
            for worker, seq, _ in part["rows"]:
                if seq:
                    sources[worker].arrived(seq)
            grouped.receive(part)
    return feed


def driver(workers: int, names: int, history: Path | None) -> tuple[Run, Clock, Feed]:
    """A run's driver side of ``workers`` synthetic workers: the run (its monitor begun, its
    source the one a Dask run of that size has), its clock, and what feeds one tick."""
    clock = Clock()
    spec = make_spec("http://127.0.0.1:9/", users=64 * workers, workers=workers,
                     history="off" if history is None else str(history))
    run = Run(spec, clock=clock)
    sources = [WorkerSource(i, f"tcp://127.0.0.1:{40000 + i}") for i in range(workers)]
    requests = ONE_NAME_REQUESTS if names == 1 else MANY_NAMES_REQUESTS
    if plan_groups(workers):
        grouped = GroupedSource(sources)
        run.monitor.sources = [grouped]
        feed = grouped_feed(sources, grouped, names, requests)
    else:
        run.monitor.sources = [ClusterSource(sources)]
        feed = direct_feed(sources, names, requests)
    if history is not None:
        from loadnb.history.writer import SqliteWriter

        run._sinks.insert(0, SqliteWriter(run.record, history))  # noqa: SLF001 - as _open_history
    run.watch(face)
    run.monitor.set_state(RunState.RUNNING)
    run.monitor.begin()
    return run, clock, feed


def face(update: Update) -> None:
    """A face: reads what a widget reads of each update, keeps nothing."""
    _ = (update.snapshot.current_rps, len(update.workers), len(update.events))


def sample(tick: int, run: Run, sizes: PartSizes, t0: float) -> dict[str, Any]:
    """One row: RSS, the record's growing parts, wall time so far."""
    rss = psutil.Process().memory_info().rss
    parts = sizes()
    return {"tick": tick, "elapsed_s": round(tick * run.spec.interval, 1),
            "rss_mb": round(rss / 1e6, 2), "record_mb": round(sum(parts.values()) / 1e6, 3),
            "parts": parts,
            "wall_s": round(time.perf_counter() - t0, 1)}


def measure(workers: int, names: int, ticks: int, every: int, history: Path | None,
            show: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Drive ``ticks`` ticks, one sample every ``every`` (and at tick 0)."""
    run, clock, feed = driver(workers, names, history)
    sizes, t0 = PartSizes(run.record), time.perf_counter()
    gc.collect()
    rows = [sample(0, run, sizes, t0)]
    show(rows[-1])
    for tick in range(1, ticks + 1):
        feed()
        clock.now += run.spec.interval
        run.monitor.tick()
        if tick % every == 0:
            rows.append(sample(tick, run, sizes, t0))
            show(rows[-1])
    assert run.record.overall.completed > 0 and len(run.record.snapshots) == ticks
    return rows


def growth(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """RSS and record growth per tick from the first sample after tick 0 to the last."""
    first, last = rows[1], rows[-1]
    span = max(1, last["tick"] - first["tick"])
    return {"from_tick": first["tick"], "to_tick": last["tick"],
            "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 2),
            "rss_bytes_per_tick": round((last["rss_mb"] - first["rss_mb"]) * 1e6 / span),
            "record_bytes_per_tick": round((last["record_mb"] - first["record_mb"]) * 1e6 / span),
            "parts_bytes_per_tick": {k: round((last["parts"][k] - first["parts"][k]) / span)
                                     for k in PARTS if last["parts"][k] != first["parts"][k]}}


def table_row(row: dict[str, Any]) -> None:
    """One sample as a line of the table."""
    top = sorted(row["parts"].items(), key=lambda kv: -kv[1])[:3]
    print(f"{row['tick']:>6} {row['elapsed_s']:>8.0f} {row['rss_mb']:>9.1f} "
          f"{row['record_mb']:>9.2f}  " + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in top)
          + f"  ({row['wall_s']:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--names", type=int, default=16)
    parser.add_argument("--ticks", type=int, default=1200, help="0.5 s intervals (1200: 10 min)")
    parser.add_argument("--every", type=int, default=60, help="a sample every this many ticks")
    parser.add_argument("--history", action="store_true", help="the history writer too")
    parser.add_argument("--json", action="store_true", help="one JSON line per sample")
    args = parser.parse_args(argv)
    if min(args.workers, args.names, args.ticks, args.every) < 1:
        parser.error("--workers, --names, --ticks and --every must be >= 1")
    if not args.json:
        print(f"{args.workers} workers × {args.names} names, {args.ticks} ticks of 0.5 s "
              f"(fed as fast as they merge)\n  tick  elapsed    RSS MB record MB  largest parts"
              " MB", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        history = Path(tmp) / "history.sqlite" if args.history else None
        rows = measure(args.workers, args.names, args.ticks, args.every, history,
                       (lambda r: print(json.dumps(r), flush=True)) if args.json else table_row)
    if len(rows) > 1:
        summary = {"workers": args.workers, "names": args.names, **growth(rows)}
        print(json.dumps(summary) if args.json else f"growth: {summary}", flush=True)


if __name__ == "__main__":
    main()
