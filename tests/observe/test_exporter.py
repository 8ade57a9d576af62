"""loadnb's own metrics: the feed (LoadMetrics from real IntervalStats and Histograms), the
Prometheus exposition it renders (read back by our parser and by prometheus_client's), and the
MetricsServer on loopback: what it serves, its linger, and its bad inputs."""

from __future__ import annotations

import asyncio
import math
import random
import socket
from collections.abc import Iterator

import aiohttp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadnb.metrics import histogram
from loadnb.metrics.stats import IntervalStats
from loadnb.observe import feed
from loadnb.observe.exporter import CONTENT_TYPE, MetricsServer, check_port, render
from loadnb.observe.exposition import parse
from loadnb.observe.feed import BOUNDS, LoadMetrics, cumulative_buckets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def totals(ok: int, failed: int, cancelled: int = 0, seed: int = 1,
           name: str = "GET /") -> IntervalStats:
    """A name's cumulative totals as the run keeps them: latencies for every answered request."""
    rng = random.Random(seed)
    stats = IntervalStats(name, started=ok + failed + cancelled, completed=ok, failed=failed,
                          cancelled=cancelled)
    stats.latency.add_seconds(np.array([rng.lognormvariate(-4, 1.2) for _ in range(ok + failed)]))
    return stats


def test_growth_is_loadnbs() -> None:
    assert feed.GROWTH == histogram.GROWTH


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e-7, 100.0), min_size=0, max_size=300))
def test_fixed_buckets_count_what_the_log_buckets_hold(values: list[float]) -> None:
    hist = histogram.Histogram.from_seconds(values)
    cum = cumulative_buckets(hist)
    assert list(cum) == sorted(cum) and (not cum or cum[-1] <= hist.total)
    for bound, n in zip(BOUNDS, cum, strict=True):
        below = sum(v <= bound for v in values)
        near = sum(abs(v - bound) <= bound * 0.011 for v in values)  # one 1 % bucket away
        assert abs(n - below) <= near, (bound, n, below)


def test_update_reads_interval_stats_and_renders_prometheus_text() -> None:
    clock = iter([100.0, 101.5])
    metrics = LoadMetrics("run-1", clock=lambda: next(clock))
    seen: list[int] = []
    metrics.subscribe(lambda state: seen.append(state.version))
    a, b = totals(90, 7, 3, seed=1), totals(40, 0, 0, seed=2, name='GET /x?token=s3cr3t"q')
    state = metrics.update({"GET /": a, b.name: b}, active_users=5, in_flight=2, dropped=4)
    assert seen == [1] and state.time == 101.5 and state.start_time == 100.0
    out = parse(render(state, BOUNDS), prefix="").samples
    run = 'run_id="run-1"'
    assert out[f'loadnb_requests_total{{name="GET /",result="ok",{run}}}'] == ("counter", 90)
    assert out[f'loadnb_requests_total{{name="GET /",result="failed",{run}}}'] == ("counter", 7)
    assert out[f'loadnb_requests_total{{name="GET /",result="cancelled",{run}}}'][1] == 3
    # the secret in a request name is not exported; the quote is escaped and read back
    shown = 'GET /x?token=***\\"q'
    assert out[f'loadnb_requests_total{{name="{shown}",result="ok",{run}}}'][1] == 40
    assert not any("s3cr3t" in k for k in out)
    count = out[f'loadnb_request_duration_seconds_count{{name="GET /",{run}}}'][1]
    assert count == a.latency.total == 97
    assert out[f'loadnb_request_duration_seconds_bucket{{le="+Inf",name="GET /",{run}}}'][1] == 97
    total_s = out[f'loadnb_request_duration_seconds_sum{{name="GET /",{run}}}'][1]
    assert math.isclose(total_s, a.latency.sum_us / 1e6)
    buckets = [out[f'loadnb_request_duration_seconds_bucket{{le="{b!r}",name="GET /",{run}}}'][1]
               for b in BOUNDS]
    assert buckets == sorted(buckets) and buckets[-1] <= count
    assert out[f"loadnb_active_users{{{run}}}"] == ("gauge", 5)
    assert out[f"loadnb_in_flight{{{run}}}"] == ("gauge", 2)
    assert out[f"loadnb_dropped_arrivals_total{{{run}}}"] == ("counter", 4)


def test_prometheus_clients_parser_reads_it_too() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    metrics = LoadMetrics("r")
    state = metrics.update({"a": totals(10, 2), "b\\n": totals(5, 1, seed=3)}, 1, 0, 0)
    families = {f.name: f for f in parser.text_string_to_metric_families(render(state, BOUNDS))}
    assert families["loadnb_requests"].type == "counter"
    assert sum(s.value for s in families["loadnb_requests"].samples
               if s.name == "loadnb_requests_total") == 18
    hist = families["loadnb_request_duration_seconds"]
    assert hist.type == "histogram"
    assert {s.labels["name"] for s in hist.samples} == {"a", "b\\n"}


def test_an_unchanged_name_is_not_recomputed() -> None:
    metrics = LoadMetrics("r")
    a = totals(10, 0)
    first = metrics.update({"a": a}, 0, 0, 0).names[0]
    assert metrics.update({"a": a}, 0, 0, 0).names[0] is first
    a.latency.add_seconds(np.array([0.5]))
    a.completed += 1
    assert metrics.update({"a": a}, 0, 0, 0).names[0].ok == 11


@pytest.mark.parametrize("run_id,bounds", [("", BOUNDS), ("r", (1.0, 0.5)), ("r", (0.0, 1.0))])
def test_load_metrics_bad_inputs(run_id: str, bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        LoadMetrics(run_id, bounds=bounds)


# -- the server ----------------------------------------------------------------------------------

@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield int(s.getsockname()[1])


@pytest.mark.parametrize("port,host,message", [
    (0, "127.0.0.1", "not 0"), (-1, "127.0.0.1", "between 1 and 65535"),
    (70000, "127.0.0.1", "between 1 and 65535"), ("9100", "127.0.0.1", "must be an integer"),
    (True, "127.0.0.1", "must be an integer"), (9100, "0.0.0.0", "loopback only"),
    (9100, "192.168.1.1", "loopback only"), (9100, "example.org", "loopback only"),
])
def test_bad_ports_and_hosts(port: object, host: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_port(port, host)
    with pytest.raises(ValueError, match=message):
        MetricsServer(LoadMetrics("r"), port, host=host)  # type: ignore[arg-type]


def test_a_busy_port_is_a_value_error(busy_port: int) -> None:
    with pytest.raises(ValueError, match=f"metrics port {busy_port} is busy"):
        MetricsServer(LoadMetrics("r"), busy_port)


def test_a_bad_linger_is_a_value_error_and_leaves_the_port_free() -> None:
    port = free_port()
    with pytest.raises(ValueError, match="linger"):
        MetricsServer(LoadMetrics("r"), port, linger=-1)
    MetricsServer(LoadMetrics("r"), port).close()  # the port was not taken


async def test_the_server_serves_the_current_state_then_lingers() -> None:
    metrics = LoadMetrics("r1")
    server = MetricsServer(metrics, free_port(), linger=30.0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url) as resp:
                assert resp.status == 200 and resp.headers["Content-Type"] == CONTENT_TYPE
                assert 'loadnb_active_users{run_id="r1"} 0' in await resp.text()
            metrics.update({"a": totals(3, 1)}, 2, 1, 0)
            async with session.get(server.url) as resp:
                body = await resp.text()
            assert body == render(metrics.current, BOUNDS)
            assert 'loadnb_requests_total{name="a",result="ok",run_id="r1"} 3' in body
            async with session.get(server.url.replace("/metrics", "/other")) as resp:
                assert resp.status == 404
            # after the run: the final values go on being served while it lingers
            metrics.update({"a": totals(8, 1)}, 0, 0, 0)
            closing = asyncio.create_task(server.aclose())
            async with session.get(server.url) as resp:
                assert 'result="ok",run_id="r1"} 8' in await resp.text()
            assert not closing.done()
            closing.cancel()  # a cancelled linger stops the server all the same
            with pytest.raises(asyncio.CancelledError):
                await closing
    finally:
        await server.aclose(linger=0)
    assert server.scrapes == 3  # GET /metrics only
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.get(server.url):
            pass


async def test_aclose_waits_the_linger_and_frees_the_port() -> None:
    port = free_port()
    server = MetricsServer(LoadMetrics("r"), port, linger=0.2)
    await server.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await server.aclose()
    assert loop.time() - t0 >= 0.2
    MetricsServer(LoadMetrics("r"), port).close()  # free again


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20),
                min_size=1, max_size=4, unique=True), st.text(min_size=1, max_size=10))
def test_any_names_and_run_id_read_back(names: list[str], run_id: str) -> None:
    from loadnb.observe.exposition import series_name
    from loadnb.text.redact import redact_text

    metrics = LoadMetrics(run_id)
    state = metrics.update({n: totals(i + 1, 0, seed=i, name=n) for i, n in enumerate(names)},
                           0, 0, 0)
    out = parse(render(state, BOUNDS), prefix="")
    assert out.bad_lines == 0
    for i, n in enumerate(names):
        key = series_name("loadnb_requests_total",
                          {"name": redact_text(n), "result": "ok", "run_id": run_id}, prefix="")
        assert out.samples[key] == ("counter", i + 1)


def test_names_that_redact_alike_are_one_series() -> None:
    metrics = LoadMetrics("r")
    state = metrics.update({"GET /?token=a": totals(3, 1, seed=1, name="GET /?token=a"),
                            "GET /?token=b": totals(5, 0, seed=2, name="GET /?token=b")},
                           0, 0, 0)
    assert [(s.name, s.ok, s.failed, s.count) for s in state.names] == [
        ("GET /?token=***", 8, 1, 9)]
    text = render(state, BOUNDS)
    lines = [line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")]
    assert len(lines) == len(set(lines))  # Prometheus refuses a scrape with a series twice
