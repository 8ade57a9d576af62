"""The demo server's ``GET /metrics``: its request counter per path is exactly what ``/stats``
counts, its responses likewise, ``/metrics`` itself is not counted; its process metrics agree with
what psutil reads of the demo's own process (the session's child-process demo)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from loadnb import demo
from loadnb.observe.exposition import parse, series_name


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(demo.create_app(), host="127.0.0.1")) as c:
        yield c


def _values(text: str, metric: str) -> dict[str, float]:
    """``{series: value}`` of one metric's series."""
    return {series: value for series, (_, value) in parse(text, prefix="").samples.items()
            if series.startswith(metric + "{")}


def _expected(metric: str, label: str, counts: dict[str, int]) -> dict[str, float]:
    return {series_name(metric, {label: k}, prefix=""): float(v) for k, v in counts.items()}


async def test_the_request_counter_is_what_stats_counts(
        client: TestClient[web.Request, web.Application]) -> None:
    for path in ["/", "/", "/api/items", "/status/503", "/no/such", '/q"uote', "/delay"]:
        await (await client.get(path)).read()
    await (await client.post("/api/items", json={"name": "x"})).read()
    for _ in range(3):  # neither /metrics nor /stats counts
        await (await client.get("/metrics")).read()
        await (await client.get("/stats")).read()
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    stats = await (await client.get("/stats")).json()
    assert _values(text, "demo_requests_total") == _expected("demo_requests_total", "path",
                                                             stats["by_path"])
    assert sum(stats["by_path"].values()) == stats["requests"] == 8
    assert _values(text, "demo_responses_total") == _expected("demo_responses_total", "status",
                                                              stats["responses"])
    samples = parse(text, prefix="").samples
    assert samples["demo_in_flight"] == ("gauge", 0.0)
    assert samples["process_cpu_seconds_total"][0] == "counter"
    assert samples["process_resident_memory_bytes"][1] > 1e6
    assert samples["process_open_fds"][1] >= 3 and samples["process_max_fds"][1] >= 64
    assert parse(text).bad_lines == 0
    await (await client.post("/stats/reset")).read()
    assert "demo_requests_total{" not in await (await client.get("/metrics")).text()


async def test_the_child_demos_process_metrics_are_its_own(demo_url: str) -> None:
    proc = psutil.Process(demo.pid(demo_url))
    async with aiohttp.ClientSession() as session:
        async with session.get(demo_url + "metrics") as resp:
            samples = parse(await resp.text(), prefix="").samples
    rss = proc.memory_info().rss
    assert abs(samples["process_resident_memory_bytes"][1] - rss) < 0.2 * rss
    cpu = proc.cpu_times()
    assert 0 < samples["process_cpu_seconds_total"][1] <= cpu.user + cpu.system + 0.05
    assert abs(samples["process_open_fds"][1] - proc.num_fds()) <= 2


def test_pid_of_an_unknown_demo_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no demo server started here"):
        demo.pid("http://127.0.0.1:1/")
