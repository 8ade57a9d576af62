"""The packed form of the Dask payloads' stats: exact round trips, merges equal to merging object
by object (whatever the names' order per worker), older payloads still read, and the driver's
one source for every worker settling a lost worker's requests."""

from __future__ import annotations

import msgpack
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from loadnb.distributed.source import ClusterSource, WorkerSource
from loadnb.metrics.codec import decode_payload, encode, encode_payload
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.packed import PackedMerge, is_packed, pack_stats, unpack_stats
from loadnb.metrics.payload import Payload, SourceStatus
from loadnb.metrics.stats import IntervalStats, merge_by_name
from tests.metrics.test_codec import _text, canon, interval_stats


def _wire(data: object) -> object:
    return msgpack.unpackb(msgpack.packb(data, use_bin_type=True), raw=False)


@st.composite
def worker_stats(draw: st.DrawFn) -> dict[str, IntervalStats]:
    """One worker's interval: a few of a small set of names, in any order."""
    names = draw(st.lists(st.sampled_from(["GET /", "POST /a", "b", ""]), unique=True,
                          max_size=4))
    return {n: draw(interval_stats(n)) for n in names}


@settings(max_examples=80, deadline=None)
@given(st.lists(worker_stats(), max_size=6))
def test_a_merge_of_packed_parts_is_the_merge_of_the_parts(parts: list[dict[str, IntervalStats]]
                                                          ) -> None:
    merge = PackedMerge()
    for part in parts:
        merge.add(_wire(pack_stats(part)))  # type: ignore[arg-type]
    expected: dict[str, IntervalStats] = {}
    for part in parts:
        merge_by_name(expected, part)
    got = merge.take().stats
    assert {n: canon(iv) for n, iv in got.items()} == {n: canon(iv) for n, iv in expected.items()}
    # each name's status codes in the order merging one by one gives them
    assert all(list(got[n].status) == list(expected[n].status) for n in got)
    assert merge.take().stats == {}  # a take empties it


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_packed_stats_round_trip_exactly(data: st.DataObject) -> None:
    names = data.draw(st.lists(_text, max_size=4, unique=True))
    stats = {n: data.draw(interval_stats(n)) for n in names}
    packed = _wire(pack_stats(stats))
    assert is_packed(packed)
    back = unpack_stats(packed)  # type: ignore[arg-type]
    assert list(back) == list(stats)
    assert [canon(iv) for iv in back.values()] == [canon(iv) for iv in stats.values()]


def test_huge_bucket_counts_and_counters_stay_exact() -> None:
    hist = Histogram.from_seconds([0.001, 0.002])
    hist.counts[hist.counts != 0] = 2**45
    hist.total = 2**46
    iv = IntervalStats("GET /", started=2**50, completed=2**50, bytes=2**60, latency=hist,
                       status={200: 2**50})
    merge = PackedMerge()
    for _ in range(3):
        merge.add(_wire(pack_stats({"GET /": iv})))  # type: ignore[arg-type]
    got = merge.take().stats["GET /"]
    assert got.started == 3 * 2**50 and got.bytes == 3 * 2**60
    assert got.latency.total == 3 * 2**46 and got.status == {200: 3 * 2**50}
    assert np.array_equal(got.latency.counts, 3 * hist.counts)


def test_an_older_payload_stats_by_name_still_reads() -> None:
    iv = IntervalStats("GET /", started=3, completed=3, status={200: 3},
                       latency=Histogram.from_seconds([0.01, 0.02, 0.03]))
    payload = Payload({"GET /": iv}, SourceStatus(active_users=2, workers=1))
    old = _wire(encode(payload))  # what loadnb sent before the packed form
    new = _wire(encode_payload(payload))
    assert "stats" in old and "packed" in new  # type: ignore[operator]
    assert canon(decode_payload(old)) == canon(decode_payload(new)) == canon(payload)  # type: ignore[arg-type]
    worker = WorkerSource(0, "tcp://127.0.0.1:1")
    source = ClusterSource([worker])
    worker.receive(old)  # type: ignore[arg-type]
    worker.receive(new)  # type: ignore[arg-type]
    got = source.collect(final=False).stats["GET /"]
    assert got.completed == 6 and got.latency.total == 6 and got.status == {200: 6}


def _payload(started: int, ended: int, name: str = "GET /") -> dict[str, object]:
    iv = IntervalStats(name, started=started, completed=ended,
                       latency=Histogram.from_seconds([0.01] * ended), status={200: ended})
    return encode_payload(Payload({name: iv}, SourceStatus(active_users=1, workers=1)))


def test_many_workers_merge_exactly_and_a_lost_one_is_settled() -> None:
    workers = [WorkerSource(i, f"tcp://127.0.0.1:{1000 + i}") for i in range(50)]
    source = ClusterSource(workers)
    for i, worker in enumerate(workers):
        worker.receive(_payload(10 + i, 10 + i, "GET /"))
        worker.receive(_payload(5, 3, "POST /b" if i % 2 else "GET /"))
    first = source.collect(final=False)
    assert first.stats["GET /"].started == sum(10 + i for i in range(50)) + 25 * 5
    assert first.stats["POST /b"].completed == 25 * 3
    assert first.status.workers == 50 and first.status.active_users == 50
    workers[1].lose()  # it had 2 "POST /b" requests open
    lost = source.collect(final=False)
    assert lost.stats["POST /b"].cancelled == 2 and "GET /" not in lost.stats
    assert lost.status.workers == 49
    final = source.collect(final=True)  # every other worker is settled at the end, once
    assert final.stats["POST /b"].cancelled == 24 * 2 and final.stats["GET /"].cancelled == 25 * 2
    assert source.collect(final=True).stats == {}
