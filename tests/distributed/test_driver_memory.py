"""The driver keeps nothing of a tick once it is merged (issue 24, bounded memory at scale): the
sources a run on Dask reads (:class:`ClusterSource`, every worker straight to the driver, and
:class:`GroupedSource`, the fan-in) hold none of a tick's messages after ``collect``, and what
they hold does not grow with the number of ticks (what stays is the run's record:
tests/record/test_workers_timeline.py).

Unit-level: encoded worker payloads, decoded afresh each tick as they come off the wire; what a
source holds is everything reachable from it (:func:`reachable`); no cluster, no load.
"""

from __future__ import annotations

import gc
import json
import sys
import types
from collections.abc import Callable
from typing import Any

import msgpack
import pytest

from loadnb.distributed.fanin import PartMerge, member_part
from loadnb.distributed.grouped import GroupedSource
from loadnb.distributed.source import ClusterSource
from tests.distributed.test_fanin import payload, sources

WORKERS, WARM, TICKS = 8, 5, 60
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
           types.MethodType, types.CodeType)


def reachable(root: object) -> dict[int, int]:
    """Every object reachable from ``root`` (classes, modules and functions left out): id -> its
    size in bytes (a numpy array's with its buffer)."""
    out: dict[int, int] = {}
    stack = [root]
    while stack:
        o = stack.pop()
        if id(o) in out or isinstance(o, _OPAQUE):
            continue
        out[id(o)] = sys.getsizeof(o)
        stack.extend(gc.get_referents(o))
    return out


def containers(msg: object) -> list[object]:
    """The dicts, lists and byte strings of a decoded message (what a kept payload would be)."""
    out: list[object] = []
    stack = [msg]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
        else:
            if not isinstance(o, bytes) or len(o) < 64:
                continue
        out.append(o)
    return out


def wire(plain: dict[str, Any]) -> bytes:
    raw: bytes = msgpack.packb(plain, use_bin_type=True)
    return raw


def off_the_wire(raw: bytes) -> dict[str, Any]:
    msg: dict[str, Any] = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    return msg


def keeps_nothing(source: object, tick: Callable[[], list[dict[str, Any]]]) -> None:
    """``tick()`` feeds ``source`` one tick's messages, collects, and returns the messages:
    after each, none of them is held; after :data:`TICKS` ticks it holds about what it held
    after :data:`WARM` (per-worker and per-name tables; each worker's last status is a new
    object every tick, its strings and numbers shared or not: a few objects either way)."""
    for _ in range(WARM):
        tick()
    held = reachable(source)
    for _ in range(TICKS):
        msgs = tick()  # kept alive here: their ids cannot be those of new objects
        now = reachable(source)
        kept = [o for o in (c for m in msgs for c in containers(m)) if id(o) in now]
        assert not kept, f"the source holds {len(kept)} objects of the tick's messages"
    now = reachable(source)
    grown = len(now) - len(held), sum(now.values()) - sum(held.values())
    assert grown[0] < TICKS // 2 and grown[1] < 2048, f"{grown[0]} objects, {grown[1]} B more"


def test_the_direct_source_keeps_no_payload_after_a_tick() -> None:
    raws = [wire(payload(seed, names=16)) for seed in range(WORKERS)]
    workers = sources(WORKERS)
    source = ClusterSource(workers)

    def tick() -> list[dict[str, Any]]:
        msgs = [off_the_wire(raw) for raw in raws]
        for w, msg in zip(workers, msgs, strict=True):
            w.receive(msg)
        assert source.collect(final=False).stats
        assert not any(w.has_news for w in workers)
        return msgs

    keeps_nothing(source, tick)


def test_the_grouped_source_keeps_no_part_after_a_tick() -> None:
    members = [member_part(payload(seed, names=16), seed, 1) for seed in range(WORKERS)]
    leader, parts = PartMerge(), []
    for start in (0, WORKERS // 2):
        for part in members[start:start + WORKERS // 2]:
            leader.add(part)
        parts.append(wire(leader.take_part()))
    workers = sources(WORKERS)
    source = GroupedSource(workers)
    seq = [0]

    def tick() -> list[dict[str, Any]]:
        msgs, seq[0] = [off_the_wire(raw) for raw in parts], seq[0] + 1
        for part in msgs:
            for index, _, _ in part["rows"]:
                workers[index].arrived(seq[0])
            source.receive(part)
        assert source.collect(final=False).stats
        return msgs

    keeps_nothing(source, tick)


@pytest.mark.parametrize("workers", [4, 70])  # 70: fanned in (groups of 32)
def test_the_benchmark_prints_a_sample_every_so_many_ticks(
        workers: int, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.driver_memory import PARTS, main

    main(["--workers", str(workers), "--names", "2", "--ticks", "4", "--every", "2", "--json"])
    *rows, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["tick"] for r in rows] == [0, 2, 4] and rows[0]["record_mb"] < 0.01
    assert set(rows[-1]["parts"]) == set(PARTS) and rows[-1]["rss_mb"] > 0
    assert rows[-1]["parts"]["names_timeline"] >= 76 * 2 * 4  # kept by column, 76 B a row
    assert rows[-1]["parts"]["workers_timeline"] >= 45 * 4 * workers
    assert summary["workers"] == workers and summary["from_tick"] == 2
    assert summary["record_bytes_per_tick"] > 0
