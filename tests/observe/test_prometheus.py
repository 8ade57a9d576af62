"""A real Prometheus server (Debian's package, on loopback, 1 s scrape interval) scrapes the
exporter while a synthetic feed runs: what its query API reads equals what was fed, and every
query of the Grafana dashboard runs on it."""

from __future__ import annotations

import pytest

from loadnb.observe.exporter import MetricsServer
from loadnb.observe.feed import LoadMetrics

from ..conftest import until
from ..prometheus import Prometheus
from .test_exporter import free_port, totals
from .test_grafana import queries

pytestmark = pytest.mark.slow




async def test_prometheus_reads_the_fed_totals(prometheus: Prometheus) -> None:
    run_id = "prom-test-1"
    metrics = LoadMetrics(run_id)
    server = MetricsServer(metrics, free_port(), linger=0)
    await server.start()
    prometheus.scrape(f"127.0.0.1:{server.port}")
    try:
        fed = 0
        for step in range(1, 7):  # a bounded synthetic run: 6 ticks, each scraped at least once
            a = totals(40 * step, 3 * step, 0, seed=step)
            b = totals(25 * step, step, 0, seed=step + 50, name="POST /api/items")
            metrics.update({"GET /": a, "POST /api/items": b}, active_users=step, in_flight=2,
                           dropped=step)
            fed = 69 * step
            seen = server.scrapes
            await until(lambda s=seen: server.scrapes > s, 20, what="a scrape of this tick")
        run = f'run_id="{run_id}"'
        for expr, want in ((f"sum(loadnb_requests_total{{{run}}})", fed),
                           (f"sum(loadnb_request_duration_seconds_count{{{run}}})", fed),
                           (f'sum(loadnb_request_duration_seconds_bucket{{{run},le="+Inf"}})',
                            fed),
                           (f'sum(loadnb_requests_total{{{run},result="failed"}})', 24),
                           (f"loadnb_active_users{{{run}}}", 6),
                           (f"loadnb_dropped_arrivals_total{{{run}}}", 6)):
            await prometheus.value_becomes(expr, want)
        assert await prometheus.value('up{job="loadnb"}') == 1
        # every query of the Grafana dashboard is valid PromQL and finds this run's series
        for expr in queries():
            concrete = expr.replace("$run_id", run_id).replace("$__rate_interval", "30s")
            assert await prometheus.query(concrete), concrete
    finally:
        prometheus.scrape()
        await server.aclose(linger=0)
