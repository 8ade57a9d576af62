"""The per-worker view of a run on Dask (issue 24): each worker's requests, loop lag, CPU and loss
per interval reach the record through the monitor (``result.workers``, ``Update.workers``), and
one saturated worker among idle ones fires the ``worker_saturated`` alert.

The unit test feeds a real :class:`ClusterSource` with encoded worker payloads and drives a real
:class:`Monitor` on a fake clock; the slow test blocks one real worker's loop on purpose.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

from loadnb.distributed.cluster import Cluster
from loadnb.distributed.source import ClusterSource, WorkerSource
from loadnb.metrics.codec import encode_payload
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.payload import Payload, SourceStatus
from loadnb.metrics.stats import IntervalStats
from loadnb.record.record import RunRecord
from loadnb.record.update import Update
from loadnb.results.result import Result
from loadnb.rules.alert_engine import AlertEngine
from loadnb.rules.alerts import default_rules
from loadnb.runner.judge import IntervalView
from loadnb.runner.monitor import Monitor
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.conftest import assert_accounting
from tests.doubles import FakeClock
from tests.nginx import Nginx


def plain(done: int, failed: int = 0, *, lag_ms: float = 2.0, cpu: float = 30.0) -> dict[str, Any]:
    """A worker's encoded interval: ``done`` answered and ``failed`` failed requests."""
    iv = IntervalStats("GET /", started=done + failed, completed=done, failed=failed,
                       latency=Histogram.from_seconds([0.01] * done))
    status = SourceStatus(active_users=2, workers=1, loop_lag_ms=lag_ms, cpu_percent=cpu)
    return encode_payload(Payload({"GET /": iv}, status))


def monitored(n: int) -> tuple[list[WorkerSource], RunRecord, Monitor, FakeClock, list[Update]]:
    """``n`` worker sources behind one :class:`ClusterSource`, and a begun monitor of them (the
    default alert rules, a fake clock, its updates collected)."""
    workers = [WorkerSource(i, f"tcp://127.0.0.1:{4000 + i}") for i in range(n)]
    record = RunRecord("w", make_spec("http://127.0.0.1:9/", users=2 * n, workers=n))
    clock, updates = FakeClock(), []
    monitor = Monitor([ClusterSource(workers)], record, [updates.append], interval=0.5,
                      clock=clock, alerts=AlertEngine(default_rules(),
                                                      interval=IntervalView(record)))
    monitor.begin()
    return workers, record, monitor, clock, updates


def test_each_workers_interval_reaches_the_record_the_update_and_the_alert() -> None:
    workers, record, monitor, clock, updates = monitored(3)
    for tick in range(3):
        workers[0].receive(plain(40, 1))
        workers[1].receive(plain(30, lag_ms=400.0 if tick else 3.0))  # blocked from tick 1
        if tick != 1:
            workers[2].receive(plain(50))  # nothing from worker 2 in tick 1
        clock.advance(0.5)
        monitor.tick()
    df = Result(record).workers
    assert list(df.columns) == ["worker", "elapsed_time", "requests", "rps", "loop_lag_ms",
                                "cpu_percent", "lost"]
    assert len(df) == 9 and df["requests"].tolist() == [41, 30, 50, 41, 30, 0, 41, 30, 50]
    assert df["rps"].tolist() == [2 * n for n in df["requests"]]
    assert df["loop_lag_ms"].tolist()[:5] == [2.0, 3.0, 2.0, 2.0, 400.0]
    assert math.isnan(df["loop_lag_ms"].iloc[5]) and not df["lost"].any()
    # every answered request once: the rows add up to the run's
    assert df["requests"].sum() == record.overall.completed + record.overall.failed
    assert updates[-1].workers == tuple(record.workers_timeline[-3:])
    fired = [e for u in updates for e in u.fired if e.rule == "worker_saturated"]
    assert len(fired) == 1 and fired[0].fired_at == pytest.approx(1.5)  # 2 intervals in a row
    assert "worker 1 (loop 400 ms late)" in fired[0].message, fired[0].message
    assert "worker 0" not in fired[0].message and "worker 2" not in fired[0].message
    assert "while 2 of 3 workers are not" in fired[0].message


def test_no_worker_alert_when_every_worker_or_the_only_one_is_busy() -> None:
    for lags in ([400.0, 400.0], [400.0]):
        sources, record, monitor, clock, _ = monitored(len(lags))
        for _ in range(3):
            for source, lag in zip(sources, lags, strict=True):
                source.receive(plain(10, lag_ms=lag))
            clock.advance(0.5)
            monitor.tick()
        rules = {e.rule for e in record.alerts}
        assert "worker_saturated" not in rules and "generator_lag" in rules, rules


def test_a_run_in_this_process_has_no_worker_rows() -> None:
    record = RunRecord("w", make_spec("http://127.0.0.1:9/", users=2))
    assert Result(record).workers.empty
    assert Update.__dataclass_fields__["workers"].default == ()


# -- a real cluster (slow) -------------------------------------------------------------------------
async def paced_get_blocking_worker_0(user: Any) -> None:
    """A scenario for the workers: a paced GET; on the Dask worker named 0 each iteration also
    blocks the worker's loop for 0.15 s (time.sleep on purpose)."""
    from distributed import get_worker

    if get_worker().name == 0:
        time.sleep(0.15)  # noqa: ASYNC251 - the point: this worker's loop is held
    await user.get("/")
    await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_a_worker_whose_loop_is_blocked_fires_the_alert_and_the_others_do_not(
        kept: Cluster, nginx: Nginx) -> None:
    import distributed

    async with distributed.Client(kept.scheduler_address, asynchronous=True) as client:
        info = await client.scheduler.identity()
    addresses = sorted(info["workers"])  # the backend's order: worker i is the i-th address
    slow = next(i for i, a in enumerate(addresses) if info["workers"][a]["name"] == 0)
    before = len(nginx.requests(settle=0.05))
    run = Run(make_spec(nginx.url, scenario=paced_get_blocking_worker_0, users=8,
                        duration="3s", interval="0.5s", cluster=kept, history="off"))
    result = await asyncio.wait_for(run.run(), 90)
    summary = assert_accounting(result, server_count=len(nginx.requests()) - before)
    df = result.workers
    assert sorted(set(df["worker"])) == [0, 1, 2, 3]
    assert df["requests"].sum() == summary["completed_requests"] + summary["failed_requests"]
    fired = [a for a in result.record.alerts if a.rule == "worker_saturated"]
    assert fired, (result.record.alerts, df.to_string())
    others = [i for i in range(4) if i != slow]
    for event in fired:
        assert f"worker {slow} (" in event.message, event.message
        assert not any(f"worker {i} (" in event.message for i in others), event.message
    lag = df[df["lost"].eq(False)].groupby("worker")["loop_lag_ms"].median()
    assert lag[slow] > 100 and all(lag[i] < 50 for i in others), lag
