"""A Dask cluster kept across runs (``loadnb.cluster``, issue 24): runs on it count exactly what
nginx logged, a run on it starts its load within 0.5 s, a ``distributed.Client`` of yours works
as ``cluster=``, a run never closes the cluster and the with-block always does.

One ``LocalCluster`` of 4 single-threaded workers for the module (starting one takes seconds on
a busy machine); the close test starts a cluster of its own, of 1 worker.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import loadnb
from loadnb.distributed.cluster import Cluster
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.conftest import assert_accounting
from tests.nginx import Nginx

pytestmark = pytest.mark.slow


async def counted_run(nginx: Nginx, **params: Any) -> tuple[dict[str, Any], int, Run]:
    """A run against nginx, with its summary and how many requests nginx logged meanwhile."""
    before = len(nginx.requests(settle=0.05))
    run = Run(make_spec(nginx.url, history="off", interval="0.5s", **params))
    result = await asyncio.wait_for(run.run(), 90)
    return result.summary, len(nginx.requests()) - before, run


async def scheduler_workers(address: str) -> int:
    """How many workers the scheduler at ``address`` has (through a client of the test's own)."""
    import distributed

    async with distributed.Client(address, asynchronous=True, timeout=10) as client:
        return len((await client.scheduler.identity())["workers"])


async def test_runs_on_a_kept_cluster_count_exactly_and_start_within_half_a_second(
        kept: Cluster, nginx: Nginx) -> None:
    startups = []
    for users in (8, 6):
        summary, logged, run = await counted_run(nginx, users=users, duration="1.5s", cluster=kept)
        assert_accounting(run.result, server_count=logged)
        assert summary["state"] == "done" and summary["workers"] == 4, summary
        assert summary["completed_requests"] > 100 and summary["workers_lost"] == 0
        assert summary["parameters"]["cluster"] == kept.scheduler_address
        snaps = run.snapshots
        assert snaps and snaps[0].elapsed_time == pytest.approx(0.5, abs=0.25)  # one interval
        startups.append(summary["startup_s"])
        assert not kept.closed  # a run leaves the cluster as it found it
        assert await scheduler_workers(kept.scheduler_address) == 4
    assert startups[1] < 0.5, startups


async def test_a_distributed_client_is_a_cluster(kept: Cluster, nginx: Nginx) -> None:
    import distributed

    client: Any = await distributed.Client(kept.scheduler_address, asynchronous=True, timeout=10)
    try:
        summary, logged, run = await counted_run(nginx, users=4, duration="1s", cluster=client)
        assert_accounting(run.result, server_count=logged)
        assert summary["workers"] == 4 and summary["state"] == "done"
        assert summary["parameters"]["cluster"] == kept.scheduler_address
        assert client.status == "running"  # the run closed its own client, not yours
        assert len(await client.run(lambda: 1)) == 4
    finally:
        await client.close()


async def test_loadnb_arun_takes_the_kept_cluster(kept: Cluster, nginx: Nginx) -> None:
    before = len(nginx.requests(settle=0.05))
    result = await loadnb.arun(nginx.url, users=4, requests=400, cluster=kept, history="off")
    assert result.summary["completed_requests"] == 400 == len(nginx.requests()) - before


def test_the_with_block_closes_the_cluster_and_a_closed_one_is_refused(nginx: Nginx) -> None:
    with loadnb.cluster(workers=1) as cluster:
        address = cluster.scheduler_address
        result = loadnb.run(nginx.url, users=2, requests=50, cluster=cluster, history="off")
        assert result.summary["completed_requests"] == 50
        assert not cluster.closed
        assert asyncio.run(scheduler_workers(address)) == 1
    assert cluster.closed
    with pytest.raises(ValueError, match="closed"):
        loadnb.run(nginx.url, users=2, requests=5, cluster=cluster, history="off")
    with pytest.raises(OSError):
        asyncio.run(scheduler_workers(address))  # nothing listens there any more


async def test_capacity_and_the_widget_take_the_kept_cluster(kept: Cluster, nginx: Nginx) -> None:
    from loadnb.studies.capacity import acapacity
    from loadnb.ui.loadtest import LoadTest

    # a latency bound keeps four workers' scheduling noise on two cores from reading as a queue
    cap = await asyncio.wait_for(acapacity(
        nginx.url, ["errors<50%", "p99<1s"], start_rate=40, max_steps=2, step_duration=1,
        cooldown=0, confirm=False, history="off", cluster=kept), 120)
    steps = cap.steps
    assert len(steps) == 2 and (steps["achieved_rps"] > 0).all(), steps
    assert steps["offered_rps"].tolist() == [40, 80], steps
    test = LoadTest(nginx.url, users=4, requests=200, cluster=kept, history="off")
    result = await asyncio.wait_for(test.run(), 90)
    assert result.summary["completed_requests"] == 200 and result.summary["workers"] == 4
    assert not kept.closed and await scheduler_workers(kept.scheduler_address) == 4
