"""Fan-in on a real ``LocalCluster`` (issue 24): 6 single-threaded workers in groups of 3
(``LOADNB_FANIN=3``) count exactly what nginx logged, every worker in ``result.workers``; a
group's leader killed mid-run: its members fail over to the driver, publish again what it never
passed on, and the run says so.

One cluster for the module (6 worker processes take seconds to start on a busy machine); the
kill test comes last (the nanny restarts the killed process, the cluster is closed after).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

import loadnb
from loadnb.distributed.cluster import Cluster
from loadnb.distributed.fanin import ENV
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.conftest import assert_accounting, until
from tests.nginx import Nginx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def six() -> Iterator[Cluster]:
    with loadnb.cluster(workers=6) as cluster:
        yield cluster


async def test_six_workers_in_groups_of_three_count_exactly(
        six: Cluster, nginx: Nginx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "3")
    before = len(nginx.requests(settle=0.05))
    run = Run(make_spec(nginx.url, users=6, duration="2s", interval="0.5s", cluster=six,
                        history="off"))
    result = await asyncio.wait_for(run.run(), 60)
    backend: Any = run._backend
    assert [g.members for g in backend.groups] == [(0, 1, 2), (3, 4, 5)]
    summary = assert_accounting(result, server_count=len(nginx.requests()) - before)
    assert summary["workers"] == 6 and summary["workers_lost"] == 0, summary["warnings"]
    assert summary["completed_requests"] > 100 and not summary["warnings"]
    df = result.workers
    assert sorted(set(df["worker"])) == list(range(6))
    assert df["requests"].sum() == summary["completed_requests"] + summary["failed_requests"]
    assert (df.groupby("worker")["requests"].sum() > 0).all()
    assert int(result.df["active_users"].max()) == 6


async def test_a_lost_leader_s_members_fail_over(
        six: Cluster, nginx: Nginx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "3")
    run = Run(make_spec(nginx.url, users=6, duration="3s", interval="0.25s", cluster=six,
                        history="off"))
    run.start()
    try:
        await until(lambda: len(run.snapshots) >= 3, 30, what="the load under way")
        backend: Any = run._backend
        pids = await backend.client.run(os.getpid)
        os.kill(pids[backend.worker_addresses[3]], signal.SIGKILL)  # the leader of group 1
        result = await asyncio.wait_for(run.wait(), 60)
    finally:
        run.stop()
        if run._task is not None:
            await asyncio.wait({run._task}, timeout=30)
    summary = assert_accounting(result)  # every interval its members sent came, once
    assert summary["state"] == "done" and summary["workers_lost"] == 1
    warnings = summary["warnings"]
    assert any("led worker group 1 (workers 4-5)" in w for w in warnings), warnings
    assert not any("never arrived" in w for w in warnings), warnings
    df = result.workers
    late = df[df["elapsed_time"] > df["elapsed_time"].max() - 1.0]
    assert (late[late["worker"].isin([4, 5])]["requests"] > 0).any(), df.to_string()
