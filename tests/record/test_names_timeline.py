"""The per-name timeline stays compact however long the run and however many request names
(issue 24, bounded memory at scale): the record keeps a row per (interval, name) in at most
:data:`MAX_BYTES_PER_ROW` bytes (Python tuples cost about 356: 27 MB in 10 minutes at 64
names), and its readers see what they saw of the list of tuples it replaced: indexing, slicing
and iteration (the same Python values and types), ``result.stats_timeline``, the export document
and a run rebuilt from it, the comparison's per-name series.
"""

from __future__ import annotations

import gc
import math
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import loadnb.record.columns as columns_module
from loadnb.history.comparison import _per_name
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.stats import IntervalStats
from loadnb.record.names import DTYPE, NamesTimeline
from loadnb.record.rebuild import rebuild
from loadnb.record.record import NAMES_TIMELINE_COLUMNS, WORKERS_TIMELINE_COLUMNS, RunRecord
from loadnb.record.workers import DTYPE as WORKERS_DTYPE
from loadnb.results import export
from loadnb.results.result import Result
from tests.record.test_workers_timeline import a_record, same, snapshot

#: Bytes a row may take in the record (76 as kept, plus the tail's unused rows).
MAX_BYTES_PER_ROW = 100
_QS = (50, 90, 99, 100)


def by_name(tick: int, names: int) -> dict[str, IntervalStats]:
    """Each name's part of interval ``tick``: name ``i`` first seen at tick ``i // 2``, with
    nothing at ticks where ``tick + i`` is a multiple of 5 (an entry but no requests, no row)."""
    out = {}
    for i in range(names):
        if tick < i // 2:
            continue
        part = IntervalStats(f"GET /item/{i}")
        if (tick + i) % 5:
            part.completed, part.failed = 40 + i + tick, i % 3
            part.latency = Histogram.from_seconds([0.001 * (1 + i), 0.002 + tick / 1e4, 0.05])
        out[part.name] = part
    return out


def old_rows(parts: list[dict[str, IntervalStats]],
             dt: float = 0.5) -> list[tuple[object, ...]]:
    """The rows as the list of tuples held them."""
    rows: list[tuple[object, ...]] = []
    for t, part in enumerate(parts):
        for name, p in part.items():
            if p.finished:
                p50, p90, p99, top = p.latency.percentiles(_QS)
                rows.append((0.5 * (t + 1), name, p.finished, p.completed, p.failed,
                             p.finished / dt, p50 * 1e3, p90 * 1e3, p99 * 1e3, top * 1e3))
    return rows


def fill(record: RunRecord, ticks: int, names: int) -> list[dict[str, IntervalStats]]:
    parts = [by_name(t, names) for t in range(ticks)]
    for t, part in enumerate(parts):
        record.add(snapshot(t), IntervalStats("all"), part, 0.5)
    return parts


def test_the_record_keeps_a_name_row_in_few_bytes() -> None:
    record, names, empty = a_record(), 64, IntervalStats("all")
    part = by_name(10**6, names)  # 51 of the names, every tick: the same parts, merged each time
    record.add(snapshot(0), empty, part, 0.5)  # the run's totals made before counting
    first = len(record.names_timeline)
    ticks = 4000 // first - 1  # just under a doubled tail (4,096 rows)
    snaps = [snapshot(t) for t in range(1, ticks + 1)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for snap in snaps:
            record.add(snap, empty, part, 0.5)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    rows = len(record.names_timeline) - first
    assert rows == ticks * first and first > names * 3 // 4
    assert kept / rows <= MAX_BYTES_PER_ROW, f"{kept / rows:.0f} bytes a row"


def test_readers_see_the_rows_the_list_of_tuples_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns_module, "CHUNK_ROWS", 8)  # rows across sealed chunks and a tail
    record = a_record()
    want = old_rows(fill(record, 9, 6))
    timeline = record.names_timeline
    assert isinstance(timeline, NamesTimeline) and len(timeline) == len(want) > 3 * 8
    got = list(timeline)
    for row, old in zip(got, want, strict=True):
        assert [type(v) for v in row] == [type(v) for v in old] == [
            float, str, int, int, int, float, float, float, float, float]
    assert same(got, want) and got[3][1] is record.names_timeline[3][1]
    assert same([timeline[0], timeline[9], timeline[-1]], [want[0], want[9], want[-1]])
    assert same(timeline[-3:], want[-3:]) and same(timeline[5:19], want[5:19])
    assert same(timeline[::7], want[::7]) and timeline[99:] == []
    with pytest.raises(IndexError):
        timeline[len(want)]
    live = Result(record)
    pd.testing.assert_frame_equal(
        live.stats_timeline, pd.DataFrame(want, columns=list(NAMES_TIMELINE_COLUMNS)))
    name = "GET /item/3"
    series = _per_name(live, name)
    mine = [r for r in want if r[1] == name]
    np.testing.assert_array_equal(series["p99_ms"][1], [r[8] for r in mine])
    np.testing.assert_array_equal(series["errors"][1], [r[4] for r in mine])


def test_an_export_and_its_rebuild_hold_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns_module, "CHUNK_ROWS", 8)
    record = a_record()
    want = old_rows(fill(record, 6, 4))
    live = Result(record)
    doc = export.document(record, live.summary)
    assert [tuple(r.values()) for r in doc["stats_timeline"]] == want
    again = rebuild(export.stored(doc, record.spec))
    assert isinstance(again.names_timeline, NamesTimeline)
    assert list(again.names_timeline) == want
    pd.testing.assert_frame_equal(Result(again).stats_timeline, live.stats_timeline)
    assert Result(a_record()).stats_timeline.equals(
        pd.DataFrame([], columns=list(NAMES_TIMELINE_COLUMNS)))


def test_the_kept_columns_are_the_published_ones() -> None:
    assert DTYPE.names == NAMES_TIMELINE_COLUMNS
    assert WORKERS_DTYPE.names == WORKERS_TIMELINE_COLUMNS


def test_a_timeline_refuses_a_row_of_the_wrong_length() -> None:
    timeline = NamesTimeline([(0.5, "a", 1, 1, 0, 2.0, 1.0, 1.0, 1.0, 1.0)])
    with pytest.raises(ValueError):
        timeline.extend([(1.0, "b", 1, 1, 0, 2.0, 1.0, 1.0, 1.0, 1.0), (1.0, "c", 1)])
    assert len(timeline) == 1 and timeline[-1][1] == "a" and math.isfinite(timeline[0][0])
