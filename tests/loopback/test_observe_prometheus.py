"""A real Prometheus (Debian's package, on loopback, 1 s scrape interval) scrapes a run's
``--metrics-port``: the last ``sum(loadnb_requests_total)`` read through its query API is the
run's ``total_requests``, and so is the duration histogram's ``_count`` (every request of this
run was answered, and no coordinated-omission correction applies: see README "Observe")."""

from __future__ import annotations

import asyncio

import pytest

from loadnb.record.state import RunState
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec

from ..conftest import until
from ..observe.test_exporter import free_port
from ..prometheus import Prometheus

pytestmark = pytest.mark.slow




async def test_prometheus_reads_the_runs_totals(prometheus: Prometheus, demo_url: str) -> None:
    port = free_port()
    prometheus.scrape(f"127.0.0.1:{port}")
    run = Run(make_spec(demo_url, rate=100, duration="4s", interval=0.5, history="off",
                        metrics_port=port, metrics_linger=30))
    try:
        run.start()
        # the run lingers after its final snapshot: Prometheus sees the final values meanwhile
        await until(lambda: run.record.state in (RunState.DONE, RunState.STOPPED), 30,
                    what="the end of the load")
        total = run.result.summary["total_requests"]
        assert total > 300 and run.result.summary["failed_requests"] == 0
        sel = f'run_id="{run.run_id}"'
        for expr, want in ((f"sum(loadnb_requests_total{{{sel}}})", total),
                           (f"sum(loadnb_request_duration_seconds_count{{{sel}}})", total),
                           (f'sum(loadnb_requests_total{{{sel},result="ok"}})', total),
                           (f"loadnb_in_flight{{{sel}}}", 0)):
            await prometheus.value_becomes(expr, want, timeout=20)
    finally:
        prometheus.scrape()
        run.stop()
        task = run._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
