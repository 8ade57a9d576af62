"""What one tick costs the Dask driver: every worker's interval in, one merged interval out.

At each tick every worker publishes one interval payload; the driver receives each (msgpack off
the wire), hands it to its worker's source, and merges them all into the interval the monitor
records (per name, and all names together). This benchmark does exactly that, on the real
driver-side code, for synthetic workers: ``--workers`` workers, ``--names`` request names each,
``--requests`` requests per worker per 0.5 s interval (spread over the names), latencies drawn
from a log-normal (σ 0.45), 1 name in 16 with a few ``503`` errors and their sample.

Sizes measured on this machine (a short real run against a local nginx, 64 users, one engine:
what one busy worker produces in 0.5 s): one name on the fast transport, 10,000–23,000 requests
and 230–320 non-empty histogram buckets; 64 names (a scenario, aiohttp), 2,900–3,700 requests
and 25–35 non-empty buckets per name. ``--requests`` defaults to those: 20,000 for one name,
3,400 for more (the synthetic histograms come out a little wider than the real ones).

    PYTHONPATH=. .venv/bin/python benchmarks/merge_cost.py --workers 8,64,256,1000 \\
        --names 1,16,64 --json

prints one JSON row per case: ``{"workers", "names", "payload_bytes", "merge_ms_p50",
"merge_ms_p99"}`` (``payload_bytes``: one worker's payload on the wire; times: wall ms per tick,
over ``--ticks`` ticks). No network, no load: CPU only (pin it with ``taskset -c 0``).

``--group G`` adds, for each case, the fanned-in one (:mod:`loadnb.distributed.fanin`): each
group's leader merges its ``G`` members' parts (off the wire) into one part, the driver merges
the ``ceil(workers / G)`` group parts. Its row has ``"group": G``, the driver's ``merge_ms_*``
and ``payload_bytes`` (a group part on the wire), ``leader_ms_p50``/``leader_ms_p99`` (one
leader's tick: its members' messages unpacked, merged, its part packed) and
``member_bytes`` (a member's part). ``--group 0`` keeps the direct case only; ``--only-group``
drops it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import msgpack
import numpy as np

from loadnb.distributed.fanin import PartMerge, member_part
from loadnb.distributed.grouped import GroupedSource
from loadnb.distributed.source import ClusterSource, WorkerSource
from loadnb.metrics.codec import encode_payload
from loadnb.metrics.payload import Payload, SourceStatus
from loadnb.metrics.stats import IntervalStats, merge_intervals

#: Distinct synthetic workers (the rest repeat them: generating is slower than merging).
VARIETY = 16
#: Requests per worker per 0.5 s, by number of names (measured: see the module docstring).
ONE_NAME_REQUESTS, MANY_NAMES_REQUESTS = 20_000, 3_400


def worker_payload(names: int, requests: int, seed: int) -> Payload:
    """One busy worker's interval: ``requests`` spread over ``names`` names."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(requests, [1 / names] * names)
    stats: dict[str, IntervalStats] = {}
    for k, n in enumerate(counts):
        n = int(n)
        bad = max(1, n // 100) if k % 16 == 5 and n else 0
        name = f"GET /api/item/{k}"
        latency = rng.lognormal(np.log(0.003), 0.45, n)
        iv = IntervalStats(name, started=n + 1, completed=n - bad, failed=bad, bytes=900 * n,
                           status={200: n - bad, **({503: bad} if bad else {})},
                           errors={"HTTP 503": bad} if bad else {},
                           samples={"HTTP 503": "HTTP/1.1 503 Service Unavailable"} if bad else {})
        iv.latency.add_seconds(latency)
        iv.service.add_seconds(latency * 0.9)
        stats[name] = iv
    status = SourceStatus(active_users=64, in_flight=3, target_users=64, started=9000,
                          progress=40.0, eta=10.0, loop_lag_ms=1.5, cpu_percent=95.0, workers=1)
    return Payload(stats, status)


def wires(names: int, requests: int) -> list[bytes]:
    """:data:`VARIETY` workers' messages as they come off the wire."""
    return [msgpack.packb({"run": "bench", "index": i, "seq": 1,
                           "payload": encode_payload(worker_payload(names, requests, i))},
                          use_bin_type=True) for i in range(VARIETY)]


def tick(cluster: ClusterSource, sources: list[WorkerSource], wire: list[bytes]) -> float:
    """One tick on the driver: receive every worker's message, merge; wall seconds."""
    t0 = time.perf_counter()
    for source in sources:
        msg: dict[str, Any] = msgpack.unpackb(wire[source.index % len(wire)], raw=False,
                                              strict_map_key=False)
        source.receive(msg["payload"])
    payload = cluster.collect(final=False)
    merge_intervals(payload.stats.values())
    return time.perf_counter() - t0


def _unpack(wire: bytes) -> dict[str, Any]:
    msg: dict[str, Any] = msgpack.unpackb(wire, raw=False, strict_map_key=False)
    return msg


def grouped_tick(source: GroupedSource, sources: list[WorkerSource], wire: list[bytes]) -> float:
    """One tick on a fanned-in driver: receive every group's part, merge; wall seconds."""
    t0 = time.perf_counter()
    for msg in map(_unpack, wire):
        part = msg["part"]
        for index, seq, _ in part["rows"]:
            if seq:
                sources[index].arrived()
        source.receive(part)
    payload = source.collect(final=False)
    merge_intervals(payload.stats.values())
    return time.perf_counter() - t0


def leader_tick(merge: PartMerge, members: list[bytes]) -> tuple[bytes, float]:
    """One leader's tick: its members' messages in, one group message out; wall seconds."""
    t0 = time.perf_counter()
    for msg in map(_unpack, members):
        merge.add(msg["part"])
    out = msgpack.packb({"run": "bench", "index": 0, "group": 0, "part": merge.take_part()},
                        use_bin_type=True)
    return out, time.perf_counter() - t0


def member_wires(names: int, requests: int, workers: int) -> list[bytes]:
    """Every worker's part message (:data:`VARIETY` distinct payloads, each worker's own index)."""
    plains = [encode_payload(worker_payload(names, requests, i)) for i in range(VARIETY)]
    return [msgpack.packb({"run": "bench", "index": i, "seq": 1,
                           "part": member_part(plains[i % VARIETY], i, 1)}, use_bin_type=True)
            for i in range(workers)]


def timed(run: Any, ticks: int) -> list[float]:
    """``run()``'s wall ms over ``ticks`` ticks after a warm-up one (fewer past 20 s, >= 3)."""
    times: list[float] = []
    budget = time.perf_counter() + 20.0
    for k in range(ticks + 1):
        spent = run()
        if k:  # the first tick warms up (the name table, the caches)
            times.append(spent * 1e3)
        if len(times) >= 3 and time.perf_counter() > budget:
            break
    return sorted(times)


def _p(times: list[float], q: float) -> float:
    return round(times[min(len(times) - 1, int(np.ceil(q * len(times))) - 1)], 2)


def case(workers: int, names: int, requests: int, ticks: int) -> dict[str, Any]:
    """One row: ``workers`` × ``names``, every worker straight to the driver."""
    wire = wires(names, requests)
    sources = [WorkerSource(i, f"tcp://127.0.0.1:{40000 + i}") for i in range(workers)]
    cluster = ClusterSource(sources)
    times = timed(lambda: tick(cluster, sources, wire), ticks)
    return {"workers": workers, "names": names,
            "payload_bytes": int(statistics.median(len(w) for w in wire)),
            "merge_ms_p50": _p(times, 0.5), "merge_ms_p99": _p(times, 0.99)}


def grouped_case(workers: int, names: int, requests: int, ticks: int,
                 group: int) -> dict[str, Any]:
    """One row: ``workers`` × ``names`` in groups of ``group``."""
    members = member_wires(names, requests, workers)
    starts = range(0, workers, group)
    merge, leader, wire = PartMerge(), [], []
    for start in starts:  # every leader's tick once (their parts), the first one timed more
        out, spent = leader_tick(merge, members[start:start + group])
        wire.append(out)
        leader.append(spent * 1e3)
    leader += timed(lambda: leader_tick(merge, members[:group])[1], min(ticks, 10))
    leader.sort()
    sources = [WorkerSource(i, f"tcp://127.0.0.1:{40000 + i}") for i in range(workers)]
    source = GroupedSource(sources)
    times = timed(lambda: grouped_tick(source, sources, wire), ticks)
    return {"workers": workers, "names": names, "group": group, "groups": len(starts),
            "payload_bytes": int(statistics.median(len(w) for w in wire)),
            "merge_ms_p50": _p(times, 0.5), "merge_ms_p99": _p(times, 0.99),
            "leader_ms_p50": _p(leader, 0.5), "leader_ms_p99": _p(leader, 0.99),
            "member_bytes": int(statistics.median(len(w) for w in members[:VARIETY]))}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=_ints, default=[8, 64, 256, 1000])
    parser.add_argument("--names", type=_ints, default=[1, 16, 64])
    parser.add_argument("--requests", type=int, default=None,
                        help="requests per worker per 0.5 s (default: the measured ones)")
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="one JSON row per case")
    parser.add_argument("--group", type=int, default=0,
                        help="also the fanned-in case, groups of this many workers (0: not)")
    parser.add_argument("--only-group", action="store_true", help="the fanned-in case only")
    args = parser.parse_args(argv)
    for names in args.names:
        requests = args.requests or (ONE_NAME_REQUESTS if names == 1 else MANY_NAMES_REQUESTS)
        for workers in args.workers:
            if not args.only_group:
                show(case(workers, names, requests, args.ticks), args.json)
            if args.group > 1:
                show(grouped_case(workers, names, requests, args.ticks, args.group), args.json)


def show(row: dict[str, Any], as_json: bool) -> None:
    """Print one row (JSON, or a line of text)."""
    if as_json:
        print(json.dumps(row), flush=True)
        return
    how = f" in groups of {row['group']}" if "group" in row else ""
    lead = (f", a leader p50 {row['leader_ms_p50']:.2f} ms p99 {row['leader_ms_p99']:.2f} ms"
            if "group" in row else "")
    print(f"{row['workers']:>5} workers × {row['names']:>3} names{how}: "
          f"{row['payload_bytes']:>8,} B a payload, merge p50 {row['merge_ms_p50']:>8.2f} ms, "
          f"p99 {row['merge_ms_p99']:>8.2f} ms{lead}", flush=True)


if __name__ == "__main__":
    main()
