"""The widget keeps one Dask cluster per kernel (issue 24): ``LoadTest(workers=N)`` runs every
Start, of every widget in the kernel, on one ``LocalCluster`` of N workers, so a Start after the
first starts its load within about one interval; the counts stay exact (the demo server's own
count). A real LocalCluster of 2 single-threaded workers, closed at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from loadnb.ui import LoadTest
from loadnb.ui.kernel_cluster import close_kernel_clusters, is_up, kernel_cluster
from tests.dask_cluster import reset_stats, server_stats

pytestmark = pytest.mark.slow


@pytest.fixture
def kernel() -> Iterator[None]:
    """No kernel cluster before the test; every one closed after it."""
    close_kernel_clusters()
    yield
    close_kernel_clusters()


async def test_every_start_of_every_widget_reuses_the_kernels_cluster(
        demo_url: str, kernel: None) -> None:
    first = LoadTest(demo_url, users=4, requests=200, workers=2, history="off", interval=0.25)
    second = LoadTest(demo_url, users=4, requests=150, workers=2, history="off", interval=0.25)
    runs = []
    for test in (first, first, second):
        reset_stats(demo_url)
        result = await asyncio.wait_for(test.run(), 120)
        s = result.summary
        assert s["state"] == "done" and s["workers"] == 2 and s["workers_lost"] == 0
        assert s["completed_requests"] == test.spec.requests == server_stats(demo_url)["requests"]
        runs.append(s)
    cluster = kernel_cluster(2)
    assert is_up(cluster) and cluster.workers == 2
    assert {s["parameters"]["cluster"] for s in runs} == {cluster.scheduler_address}
    assert runs[1]["startup_s"] < 0.5 and runs[2]["startup_s"] < 0.5, [
        s["startup_s"] for s in runs]
    assert first.spec.workers == 2 and first.spec.cluster is None  # the form is unchanged
