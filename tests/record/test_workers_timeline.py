"""The per-worker timeline stays compact however long the run and however many workers (issue
24, bounded memory at scale): the record keeps a row per (interval, worker) in at most
:data:`MAX_BYTES_PER_ROW` bytes (Python tuples cost about 200: 300 MB in 10 minutes at 1,000
workers), and its readers see what they saw of the list of tuples it replaced: ``result.workers``
(same columns, dtypes, values), indexing, slicing and iteration (the same Python values),
``Update.workers`` (tuples).
"""

from __future__ import annotations

import gc
import math
import tracemalloc

import pandas as pd
import pytest

import loadnb.record.columns as columns_module
import loadnb.record.workers as workers_module
from loadnb.metrics.payload import WorkerInterval
from loadnb.metrics.snapshot import Snapshot
from loadnb.metrics.stats import IntervalStats
from loadnb.record.record import WORKERS_TIMELINE_COLUMNS, RunRecord
from loadnb.record.workers import WorkersTimeline
from loadnb.results.result import Result
from loadnb.spec.config import make_spec

#: Bytes a row may take in the record (45 as kept, plus the last chunk's unused rows).
MAX_BYTES_PER_ROW = 64


def interval(tick: int, workers: int) -> list[WorkerInterval]:
    """Each worker's part of interval ``tick`` (numbers as fresh objects, as decoded ones are;
    worker 1 lost from tick 2, nothing from worker 2 at odd ticks)."""
    return [WorkerInterval(i, 100 * i + tick, 2.0 + i / 7 + tick / 1000,
                           math.nan if i == 2 and tick % 2 else 30.0 + tick / 3,
                           i == 1 and tick >= 2) for i in range(workers)]


def snapshot(t: int) -> Snapshot:
    """The snapshot of interval ``t`` (only its time matters here)."""
    return Snapshot(timestamp=1e9 + t, elapsed_time=0.5 * (t + 1), progress_percent=0.0,
                    active_users=8, completed_requests=0, failed_requests=0, success_rate=100.0,
                    current_rps=0.0, peak_rps=0.0, estimated_completion=0.0)


def old_rows(parts: list[list[WorkerInterval]], dt: float = 0.5) -> list[tuple[object, ...]]:
    """The rows as the list of tuples held them."""
    return [(w.worker, 0.5 * (t + 1), w.requests, w.requests / dt, w.loop_lag_ms,
             w.cpu_percent, w.lost) for t, part in enumerate(parts) for w in part]


def fill(record: RunRecord, ticks: int, workers: int) -> list[list[WorkerInterval]]:
    parts = [interval(t, workers) for t in range(ticks)]
    for t, part in enumerate(parts):
        record.add(snapshot(t), IntervalStats("all"), {}, 0.5,
                   workers=part)
    return parts


def same(rows: list[tuple[object, ...]], want: list[tuple[object, ...]]) -> bool:
    """Equal rows, a NaN equal to a NaN."""
    def eq(a: object, b: object) -> bool:
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
                          and math.isnan(b))
    return len(rows) == len(want) and all(
        len(r) == len(w) and all(map(eq, r, w)) for r, w in zip(rows, want, strict=True))


def a_record() -> RunRecord:
    return RunRecord("w", make_spec("http://127.0.0.1:9/", users=8, workers=4))


def test_the_record_keeps_a_worker_row_in_few_bytes() -> None:
    record, workers, ticks = a_record(), 64, 250
    parts = [interval(t, workers) for t in range(ticks)]
    snaps = [snapshot(t) for t in range(ticks)]
    empty = IntervalStats("all")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for part, snap in zip(parts, snaps, strict=True):
            record.add(snap, empty, {}, 0.5, workers=part)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    rows = workers * ticks
    assert len(record.workers_timeline) == rows
    assert kept / rows <= MAX_BYTES_PER_ROW, f"{kept / rows:.0f} bytes a row"


def test_readers_see_the_rows_the_list_of_tuples_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns_module, "CHUNK_ROWS", 8)  # rows across sealed chunks and a tail
    record = a_record()
    parts = fill(record, 7, 3)
    want = old_rows(parts)
    timeline = record.workers_timeline
    assert isinstance(timeline, WorkersTimeline) and len(timeline) == 21
    got = list(timeline)
    assert len(got) == 21
    for row, old in zip(got, want, strict=True):
        assert [type(v) for v in row] == [type(v) for v in old]
    assert same(got, want)
    assert same([timeline[0], timeline[9], timeline[-1]], [want[0], want[9], want[-1]])
    assert same(timeline[-3:], want[-3:]) and same(record.last_workers, want[-3:])
    assert same(timeline[5:13], want[5:13]) and same(timeline[::7], want[::7])
    assert timeline[30:] == [] and isinstance(timeline[-3:][0], tuple)
    with pytest.raises(IndexError):
        timeline[21]
    df = Result(record).workers
    pd.testing.assert_frame_equal(df, pd.DataFrame(want, columns=list(WORKERS_TIMELINE_COLUMNS)))
    assert Result(a_record()).workers.equals(
        pd.DataFrame([], columns=list(WORKERS_TIMELINE_COLUMNS)))


def test_the_timeline_grows_in_chunks_without_copying_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns_module, "CHUNK_ROWS", 512)
    timeline = WorkersTimeline()
    row = (3, 0.5, 10, 20.0, 1.0, 2.0, False)
    timeline.extend([row] * 300)
    assert timeline.nbytes <= 512 * workers_module.DTYPE.itemsize
    timeline.extend([row] * 1000)  # fills the first chunk, seals it, fills another, starts one
    sealed = list(timeline._chunks)  # noqa: SLF001 - the storage is what is under test
    assert len(sealed) == 2 and len(timeline) == 1300
    timeline.extend([row] * 600)
    assert all(a is b for a, b in zip(sealed, timeline._chunks[:2], strict=True))  # noqa: SLF001
    assert timeline.nbytes == 4 * 512 * workers_module.DTYPE.itemsize
    assert timeline[1299] == row and timeline[-1] == row and len(list(timeline)) == 1900
