"""Fan-in (issue 24): the group layout, and the group merge against the direct one: the driver's
merge of its groups' parts equals its merge of every member's payload (stats, histograms, status
codes, per-worker rows, the run's status), with late intervals and lost members; the leader and
its members' routes on a stand-in Dask client (the real cluster: test_fanin_cluster.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from loadnb.distributed.fanin import ENV, PartMerge, member_part, plan_groups
from loadnb.distributed.grouped import SETTLE_TICKS, GroupedSource
from loadnb.distributed.source import ClusterSource, WorkerSource
from loadnb.metrics.codec import encode_payload
from loadnb.metrics.payload import Payload, SourceStatus
from loadnb.metrics.stats import IntervalStats
from tests.conftest import until

COUNTS = ("started", "completed", "failed", "cancelled", "bytes", "corrected")


def payload(seed: int, *, names: int = 5, lag: float = 2.0) -> dict[str, Any]:
    """A worker's encoded interval: random counts over up to ``names`` names, a few 503s."""
    rng = np.random.default_rng(seed)
    stats = {}
    for k in rng.choice(names, size=int(rng.integers(1, names + 1)), replace=False).tolist():
        n = int(rng.integers(0, 300))
        bad = int(rng.integers(0, 3))
        iv = IntervalStats(f"GET /{k}", started=n + bad + int(rng.integers(0, 4)),
                           completed=n, failed=bad, bytes=10 * n,
                           status={200: n, **({503: bad} if bad else {})},
                           errors={"HTTP 503": bad} if bad else {})
        iv.latency.add_seconds(rng.lognormal(np.log(0.01), 0.8, n))
        iv.service.add_seconds(rng.lognormal(np.log(0.008), 0.8, n))
        stats[iv.name] = iv
    status = SourceStatus(active_users=int(rng.integers(1, 9)), in_flight=2, target_users=8,
                          started=100 + seed, progress=float(seed % 100), eta=3.0,
                          loop_lag_ms=lag + seed % 7, cpu_percent=50.0 + seed % 13,
                          events=[(1.0, f"event of {seed}")] if seed % 5 == 0 else [],
                          workers=1)
    return encode_payload(Payload(stats, status))


def sources(n: int) -> list[WorkerSource]:
    return [WorkerSource(i, f"tcp://127.0.0.1:{41000 + i}") for i in range(n)]


def grouped(plains: dict[int, list[tuple[int, dict[str, Any]]]], size: int,
            source: GroupedSource) -> None:
    """Feed ``source`` one part per group of ``size`` (each member's ``(seq, payload)``s)."""
    workers = sorted(plains)
    for start in range(0, len(workers), size):
        leader = PartMerge()
        for w in workers[start:start + size]:
            for seq, plain in plains[w]:
                leader.add(member_part(plain, w, seq))
        if leader.pending:
            source.receive(leader.take_part())


def side_by_side(n: int) -> tuple[list[WorkerSource], list[WorkerSource], ClusterSource,
                                   GroupedSource]:
    """``n`` workers as the direct path sees them and as the fan-in does, and each one's source."""
    direct_workers, fanned_workers = sources(n), sources(n)
    return (direct_workers, fanned_workers, ClusterSource(direct_workers),
            GroupedSource(fanned_workers))


def deliver(plains: dict[int, list[tuple[int, dict[str, Any]]]], size: int,
            direct_workers: list[WorkerSource], fanned: GroupedSource) -> None:
    """The same intervals both ways: each straight to its worker's direct source, and through
    leaders of groups of ``size`` to the fan-in's."""
    for w, got in plains.items():
        for _, plain in got:
            direct_workers[w].receive(plain)
    grouped(plains, size, fanned)


def same(a: Payload, b: Payload) -> None:
    """Two merged intervals are the same (stats, per-worker rows, status)."""
    assert a.stats.keys() == b.stats.keys()
    for name, iv in a.stats.items():
        other = b.stats[name]
        assert [getattr(iv, f) for f in COUNTS] == [getattr(other, f) for f in COUNTS], name
        assert iv.status == other.status and iv.errors == other.errors, name
        assert np.array_equal(iv.latency.counts, other.latency.counts), name
        assert np.array_equal(iv.service.counts, other.service.counts), name
        assert iv.latency.sum_us == pytest.approx(other.latency.sum_us)
        assert (iv.latency.min_s, iv.latency.max_s) == (other.latency.min_s, other.latency.max_s)
    assert [(w.worker, w.requests, w.lost) for w in a.workers] == [
        (w.worker, w.requests, w.lost) for w in b.workers]
    np.testing.assert_array_equal([(w.loop_lag_ms, w.cpu_percent) for w in a.workers],
                                  [(w.loop_lag_ms, w.cpu_percent) for w in b.workers])
    keys = ("active_users", "in_flight", "target_users", "started", "phase", "workers", "events",
            "loop_lag_ms", "cpu_percent", "progress", "eta")
    assert {k: getattr(a.status, k) for k in keys} == {k: getattr(b.status, k) for k in keys}


def test_the_layout_fans_in_above_twice_the_group_size_or_as_forced() -> None:
    assert plan_groups(64, {}) == [] and plan_groups(4, {ENV: "3"}) != []
    groups = plan_groups(1000, {})
    assert len(groups) == 32 and groups[0].members == tuple(range(32))
    assert [len(g.members) for g in groups][-1] == 1000 - 31 * 32
    assert [g.leader for g in groups[:2]] == [0, 32] and groups[1].topic == "loadnb-group-1"
    six = plan_groups(6, {ENV: "3"})
    assert [g.members for g in six] == [(0, 1, 2), (3, 4, 5)]
    assert plan_groups(6, {ENV: "6"}) == [] and plan_groups(1000, {ENV: "0"}) == []
    with pytest.raises(ValueError, match=ENV):
        plan_groups(10, {ENV: "many"})


@pytest.mark.parametrize("size", [1, 3, 4, 7])
def test_groups_merge_to_what_every_member_merges_to(size: int) -> None:
    n = 7
    direct_workers, fanned_workers, direct, fanned = side_by_side(n)
    for w in direct_workers + fanned_workers:
        w.start()
    for tick in range(3):
        # worker 2 sends nothing in tick 1, then both intervals (one late) in tick 2
        plains = {w: [(tick + 1, payload(100 * tick + w))] for w in range(n)
                  if (w, tick) != (2, 1)}
        if tick == 2:
            plains[2].insert(0, (2, payload(100 + 2)))
        deliver(plains, size, direct_workers, fanned)
        same(direct.collect(final=False), fanned.collect(final=False))


def test_a_lost_member_is_settled_as_the_direct_path_settles_it() -> None:
    direct_workers, fanned_workers, direct, fanned = side_by_side(4)
    deliver({w: [(1, payload(w))] for w in range(4)}, 2, direct_workers, fanned)
    same(direct.collect(final=False), fanned.collect(final=False))
    direct_workers[3].lose()
    fanned_workers[3].lose()
    lost = direct.collect(final=False)
    ticks = [fanned.collect(final=False) for _ in range(SETTLE_TICKS + 1)]
    assert all(not t.stats for t in ticks[:-1])  # it waits for what the leader still holds
    same(lost, ticks[-1])
    assert sum(iv.cancelled for iv in ticks[-1].stats.values()) > 0
    assert ticks[-1].status.workers == 3 and ticks[-1].workers[3].lost
    same(direct.collect(final=True), fanned.collect(final=True))  # the others never finished


def test_finals_and_a_worker_that_never_sent_its_own() -> None:
    """Each worker's final payload (its task's result) comes straight to the driver; the open
    requests of one whose final never came are settled at the end, as on the direct path."""
    direct_workers, fanned_workers, direct, fanned = side_by_side(3)
    deliver({w: [(1, payload(w))] for w in range(3)}, 3, direct_workers, fanned)
    same(direct.collect(final=False), fanned.collect(final=False))
    for workers in (direct_workers, fanned_workers):
        workers[0].finish(payload(50, names=1))
        workers[1].finish(payload(51, names=1))
    last = fanned.collect(final=True)
    same(direct.collect(final=True), last)
    assert last.status.phase == "done" and last.workers[2].requests == 0
    assert sum(iv.cancelled for iv in last.stats.values()) > 0  # worker 2's


class FakeClient:
    """A stand-in for the worker's Dask client and the scheduler's topics: events published on
    a topic go, at once, to its subscriber."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.out: list[tuple[str, dict[str, Any]]] = []

    def subscribe_topic(self, topic: str, handler: Any) -> None:
        self.handlers[topic] = handler

    def unsubscribe_topic(self, topic: str) -> None:
        del self.handlers[topic]

    def log_event(self, topic: str, msg: dict[str, Any]) -> None:
        self.out.append((topic, msg))
        if topic in self.handlers:
            self.handlers[topic]((0.0, msg))


async def test_the_leader_merges_late_members_and_waits_for_their_end() -> None:
    from loadnb.distributed.fanin import Group
    from loadnb.distributed.leader import Leader, Route

    client, group = FakeClient(), Group(0, (0, 1, 2))
    leader = Leader(client, client.log_event, "r", 0, group, "drv")
    await leader.subscribe()
    routes = {m: Route(client.log_event, "drv", group) for m in (1, 2)}

    def interval(w: int, seq: int) -> dict[str, Any]:
        return {"run": "r", "index": w, "seq": seq, "part": member_part(payload(w), w, seq)}

    routes[1].publish(interval(1, 1))
    leader.own(interval(0, 1))  # worker 2's first interval is late: in the next part
    routes[2].publish(interval(2, 1))
    routes[1].publish({"run": "r", "index": 1, "end": 1})
    routes[2].publish(interval(2, 2))
    leader.own(interval(0, 2))
    finishing = asyncio.ensure_future(leader.finish())
    routes[2].publish(interval(2, 3))
    routes[2].publish({"run": "r", "index": 2, "end": 3})
    await asyncio.wait_for(finishing, 5)
    leader.close()
    sent = [m for topic, m in client.out if topic == "drv"]
    rows = [[tuple(r[:2]) for r in m["part"]["rows"]] for m in sent]
    assert rows == [[(1, 1), (0, 1)], [(2, 1), (2, 2), (0, 2)], [(2, 3)]]
    assert all(m["group"] == 0 for m in sent)
    assert not any(topic == "drv" and "end" in m for topic, m in client.out)


async def test_the_leader_waits_out_its_members_grace_and_passes_on_what_comes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A member still in its grace (a request in flight at the end) after the leader's load
    ended: its last interval, later than END_WAIT, is passed on, as soon as it comes."""
    from loadnb.distributed import leader as leading
    from loadnb.distributed.fanin import Group

    monkeypatch.setattr(leading, "END_WAIT", 0.05)
    client, group = FakeClient(), Group(0, (0, 1))
    leader = leading.Leader(client, client.log_event, "r", 0, group, "drv")
    await leader.subscribe()
    member = leading.Route(client.log_event, "drv", group)

    def interval(w: int, seq: int) -> dict[str, Any]:
        return {"run": "r", "index": w, "seq": seq, "part": member_part(payload(w), w, seq)}

    def rows() -> list[tuple[int, int]]:
        return [tuple(r[:2]) for topic, m in client.out if topic == "drv"
                for r in m["part"]["rows"]]

    member.publish(interval(1, 1))
    leader.own(interval(0, 1))
    finishing = asyncio.ensure_future(leader.finish(grace=2.0))
    await asyncio.sleep(0.2)  # the member's grace outlasts END_WAIT
    member.publish(interval(1, 2))
    await until(lambda: (1, 2) in rows(), what="the late interval passed on while waiting")
    assert not finishing.done()
    member.publish({"run": "r", "index": 1, "end": 2})
    await asyncio.wait_for(finishing, 5)
    leader.close()
    assert rows() == [(1, 1), (0, 1), (1, 2)]


def test_a_member_fails_over_with_what_the_driver_never_got() -> None:
    from loadnb.distributed.fanin import Group
    from loadnb.distributed.leader import Route

    client = FakeClient()
    route = Route(client.log_event, "drv", Group(0, (0, 1)))
    for seq in (1, 2, 3):
        route.publish({"run": "r", "index": 1, "seq": seq, "part": {}})
    assert [t for t, _ in client.out] == ["loadnb-group-0"] * 3
    assert route.fail_over(have=1) == 2  # the driver has its first: the other two again
    route.publish({"run": "r", "index": 1, "seq": 4, "part": {}})
    route.publish({"run": "r", "index": 1, "end": 4})  # the driver needs no end
    assert [(t, m["seq"]) for t, m in client.out[3:]] == [("drv", 2), ("drv", 3), ("drv", 4)]
