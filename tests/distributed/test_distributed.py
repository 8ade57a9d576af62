"""Scale-out on Dask (issue 14): exact splitting, the driver's worker sources, and real clusters
on 127.0.0.1 against loopback servers (the payload codec: tests/metrics/test_codec.py).

The unit tests need no Dask. The cluster tests (``slow``) start a ``LocalCluster`` of 2 worker
processes (or an external ``dask scheduler`` and two ``dask worker`` processes) and always stop
what they started, with bounded waits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadnb.distributed.split import ShareShape, share_spec, split_int, split_rows, split_target
from loadnb.metrics.codec import encode_payload
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.payload import Payload, SourceStatus
from loadnb.metrics.stats import IntervalStats
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.conftest import assert_accounting, until
from tests.dask_cluster import VENV_BIN, external_cluster, reset_stats, server_stats

__all__ = ["external_cluster"]  # a fixture of this module


# -- split -------------------------------------------------------------------------------------
def test_ten_users_on_three_workers() -> None:
    assert split_int(10, 3) == [4, 3, 3]
    assert split_int(2, 4) == [1, 1, 0, 0]


@given(st.integers(0, 10**9), st.integers(1, 512))
def test_split_int_is_exact(total: int, n: int) -> None:
    parts = split_int(total, n)
    assert len(parts) == n and sum(parts) == total and max(parts) - min(parts) <= 1


@given(st.lists(st.integers(), max_size=60), st.integers(1, 9))
def test_rows_are_partitioned_not_duplicated(rows: list[int], n: int) -> None:
    parts = split_rows(tuple(rows), n)
    assert [r for part in parts for r in part] == rows


def test_share_specs_add_up() -> None:
    spec = make_spec("http://127.0.0.1:9/", users=10, requests=1001, duration="5s", seed=3)
    shares = [share_spec(spec, i, 3) for i in range(3)]
    assert [s.users for s in shares] == [4, 3, 3]
    assert sum(s.requests or 0 for s in shares) == 1001
    assert [s.seed for s in shares] == [3, 4, 5]
    assert all(s.workers is None and s.cluster is None and s.history == "off" for s in shares)
    open_ = make_spec("http://127.0.0.1:9/", rate=100, duration="5s")
    assert math.fsum(share_spec(open_, i, 3).rate or 0 for i in range(3)) == pytest.approx(100)


def test_once_mode_rows_are_partitioned() -> None:
    async def user(vu: Any, row: Any) -> None: ...

    spec = make_spec("http://127.0.0.1:9/", scenario=user, data=list(range(10)),
                     data_mode="once", workers=3)
    assert [share_spec(spec, i, 3).data_rows for i in range(3)] == [
        (0, 1, 2, 3), (4, 5, 6), (7, 8, 9)]
    cycle = dataclasses.replace(spec, data_mode="cycle")
    assert share_spec(cycle, 1, 3).data_rows == tuple(range(10))


@given(st.floats(0, 100), st.integers(1, 7))
def test_stages_stay_global_and_shares_add_up(t: float, n: int) -> None:
    spec = make_spec("http://127.0.0.1:9/", stages=[("10s", 13), ("20s", 40), ("10s", 0)])
    shape = spec.load_shape()
    parts = [share_spec(spec, i, n).load_shape().target(t) for i in range(n)]
    assert sum(parts) == round(shape.target(t))
    assert all(isinstance(share_spec(spec, i, n).shape_fn, ShareShape) for i in range(n))


def test_live_targets_split() -> None:
    assert split_target(7, 3, users=True) == [3.0, 2.0, 2.0]
    assert sum(split_target(100.0, 3, users=False)) == pytest.approx(100.0)


# -- the driver's worker source ----------------------------------------------------------------
def _plain(started: int, completed: int, *, active: int = 2) -> dict[str, Any]:
    iv = IntervalStats("GET /", started=started, completed=completed,
                       latency=Histogram.from_seconds([0.01] * completed))
    return encode_payload(Payload({"GET /": iv}, SourceStatus(active_users=active, in_flight=1,
                                                              workers=1)))


def test_worker_source_merges_what_arrived_since_the_last_tick() -> None:
    from loadnb.distributed.source import ClusterSource, WorkerSource

    worker = WorkerSource(0, "tcp://127.0.0.1:1")
    source = ClusterSource([worker])
    worker.receive(_plain(5, 4))
    worker.receive(_plain(6, 6))
    first = source.collect(final=False)
    assert first.stats["GET /"].started == 11 and first.stats["GET /"].completed == 10
    assert first.status.workers == 1 and first.status.active_users == 2
    empty = source.collect(final=False)
    assert empty.stats == {} and empty.status.active_users == 2  # the last status holds
    worker.receive(_plain(3, 2))
    worker.lose()
    lost = source.collect(final=False)
    # 14 started, 12 ended: the 2 never ended are cancelled when the worker is lost
    assert lost.stats["GET /"].cancelled == 2
    assert lost.status.workers == 0 and lost.status.active_users == 0
    assert lost.status.phase == "done"
    assert source.collect(final=True).stats == {}


# -- scenario files on the workers -------------------------------------------------------------
def test_a_scenario_file_travels_as_text_and_unpickles_where_it_was_installed(
        tmp_path: Path) -> None:
    import cloudpickle

    from loadnb.distributed.files import forget_modules, install_modules, scenario_modules
    from loadnb.spec.scenario import load_scenario

    path = tmp_path / "journeys.py"
    path.write_text("HITS = []\n\nasync def home(user):\n    HITS.append(user)\n")
    spec = make_spec("http://127.0.0.1:9/", scenario=load_scenario(f"{path}:home"))
    modules = scenario_modules(spec)
    assert [(file, text) for _, file, text in modules] == [(str(path), path.read_text())]
    name = modules[0][0]
    blob = cloudpickle.dumps(spec)  # the task pickles by reference to the file's module
    driver_module = sys.modules.pop(name)  # a worker has no such module
    path.unlink()  # nor the file
    try:
        with pytest.raises(ModuleNotFoundError):
            pickle.loads(blob)
        assert install_modules("run-1", modules) == ""
        task = pickle.loads(blob).scenario.tasks[0]
        assert task.__module__ == name and task.__globals__["__file__"] == str(path)
        assert sys.modules[name] is not driver_module
        forget_modules("run-1")
        assert name not in sys.modules
        broken = [(name, str(path), "raise RuntimeError('only on the driver')\n")]
        failed = install_modules("run-2", broken)
        assert failed == f"{path} failed to import: RuntimeError: only on the driver"
        forget_modules("run-2")
    finally:
        sys.modules.pop(name, None)


# -- real clusters (slow) ----------------------------------------------------------------------
@pytest.mark.slow
async def test_two_workers_count_what_the_server_saw(demo_url: str) -> None:
    reset_stats(demo_url)
    run = Run(make_spec(demo_url, users=6, duration="2s", workers=2, interval="0.5s",
                        history="off"))
    result = await asyncio.wait_for(run.run(), 90)
    summary = assert_accounting(result, server_count=server_stats(demo_url)["requests"])
    assert summary["workers"] == 2 and summary["workers_lost"] == 0
    assert summary["state"] == "done" and summary["completed_requests"] > 100
    assert summary["parameters"]["workers"] == 2
    # start-up is not load: the cluster's start is apart, the run's clock starts with the load
    assert summary["startup_s"] > 0
    assert summary["startup_cpu_s"] is not None and summary["startup_cpu_s"] > 0  # the driver's
    assert abs(summary["duration_s"] - 2.0) <= 0.5, summary["duration_s"]  # one interval
    answered = summary["completed_requests"] + summary["failed_requests"]
    assert summary["avg_rps"] == pytest.approx(answered / summary["duration_s"], rel=1e-3)
    phases = [s.phase for s in result.snapshots]
    assert phases[0] == "running" and set(phases) <= {"running", "ending", "done"}, phases
    df = result.df
    assert "workers" in df.columns and int(df["workers"].max()) == 2
    assert int(df["active_users"].max()) == 6


@pytest.mark.slow
async def test_live_change_and_stop_reach_every_worker(demo_url: str) -> None:
    """A change of 4 to 7 users is split 4 + 3 over the workers: each records it as an event,
    and the snapshot after the last one marked with it shows 7 users (each worker applies a
    change within one 50 ms control step, well inside the 0.25 s interval). A stop ends every
    share: the run ends long before its 30 s (5 s bounds here only catch a hang)."""
    reset_stats(demo_url)
    run = Run(make_spec(demo_url, users=4, duration="30s", workers=2, interval="0.25s",
                        history="off"))
    run.start()
    try:
        await until(lambda: any(s.active_users == 4 for s in run.snapshots), 30,
                    what="4 users on the workers")
        run.set_users(7)

        def marked() -> list[int]:
            return [i for i, s in enumerate(run.snapshots) if "set to" in s.event]

        await until(lambda: sum(run.snapshots[i].event.count("set to") for i in marked()) == 2
                    and len(run.snapshots) > marked()[-1] + 1, 5,
                    what="both workers' change events and a snapshot after them")
        backend: Any = run._backend
        run.stop()
        await until(lambda: not backend.running, 5, what="every share ended")
        result = await asyncio.wait_for(run.wait(), 30)
    finally:
        run.stop()
        if run._task is not None:
            await asyncio.wait({run._task}, timeout=30)
    snaps = result.snapshots
    events = sorted(text for s in snaps for text in s.event.split("; ") if text)
    assert events == ["set to 3 users", "set to 4 users"], events  # 7 split over the two
    marks = [i for i, s in enumerate(snaps) if s.event]
    seq = [(round(s.elapsed_time, 2), s.active_users, s.event, s.phase) for s in snaps]
    assert snaps[marks[-1] + 1].active_users == 7, seq
    assert {s.active_users for s in snaps[:marks[0]]} <= {0, 4}, seq  # 4 until the change
    summary = assert_accounting(result)
    assert summary["state"] == "stopped" and snaps[-1].phase == "done", seq
    assert snaps[-1].elapsed_time < 30 and snaps[-1].active_users == 0, seq
    seen = server_stats(demo_url)["requests"]
    answered = summary["completed_requests"] + summary["failed_requests"]
    assert answered <= seen <= summary["total_requests"]  # within the requests in flight


@pytest.mark.slow
async def test_a_killed_worker_is_survived(demo_url: str) -> None:
    run = Run(make_spec(demo_url, users=4, duration="3s", workers=2, interval="0.25s",
                        history="off"))
    run.start()
    try:
        await until(lambda: any(s.active_users == 4 for s in run.snapshots), 30,
                    what="4 users on the workers")
        backend: Any = run._backend
        pids = await backend.client.run(os.getpid)
        victim = pids[backend.worker_addresses[1]]
        os.kill(victim, signal.SIGKILL)
        result = await asyncio.wait_for(run.wait(), 60)
    finally:
        run.stop()
        if run._task is not None:
            await asyncio.wait({run._task}, timeout=30)
    summary = assert_accounting(result)  # its unfinished requests count as cancelled
    assert summary["state"] == "done" and summary["workers"] == 2
    assert summary["workers_lost"] == 1
    assert any("was lost" in w for w in summary["warnings"]), summary["warnings"]
    assert result.df["workers"].iloc[-1] == 1
    assert result.df["active_users"].iloc[-2] in (2, 0)  # the survivor's share goes on


@pytest.mark.slow
def test_the_cli_on_an_external_cluster(external_cluster: str, demo_url: str) -> None:
    out = subprocess.run(
        [str(VENV_BIN / "loadnb"), "run", demo_url, "--cluster", external_cluster, "-u", "4",
         "-d", "2s", "--json", "--no-history"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["workers"] == 2 and summary["state"] == "done"
    assert summary["completed_requests"] > 0 and summary["cancelled_requests"] == 0
    assert summary["parameters"]["cluster"] == external_cluster


@pytest.mark.slow
async def test_a_cluster_with_another_loadnb_is_refused(
        external_cluster: str, demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import loadnb.distributed.connect as backend

    monkeypatch.setattr(backend, "__version__", "0.0.0-other")
    run = Run(make_spec(demo_url, users=2, duration="1s", cluster=external_cluster,
                        history="off"))
    with pytest.raises(RuntimeError, match="install the same loadnb on every worker"):
        await asyncio.wait_for(run.run(), 60)


async def fetch_row(user: Any) -> None:
    """A scenario for the workers (importable, so it pickles): one request per data row."""
    await user.get(f"/?row={user.data}", name="row")


@pytest.mark.slow
async def test_a_scenario_runs_on_the_workers_with_rows_partitioned(demo_url: str) -> None:
    reset_stats(demo_url)
    run = Run(make_spec(demo_url, scenario=fetch_row, data=list(range(40)), data_mode="once",
                        users=4, duration="20s", workers=2, history="off"))
    result = await asyncio.wait_for(run.run(), 60)
    summary = assert_accounting(result, server_count=server_stats(demo_url)["requests"])
    assert summary["completed_requests"] == 40  # each row once: partitioned, not duplicated
    assert summary["workers"] == 2 and summary["transport"] == "aiohttp"
