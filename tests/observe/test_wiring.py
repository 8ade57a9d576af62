"""The observe options wired into runs: the demo's /metrics scraped beside the load (server.*
columns, result.server, history, exports, report, compare), thresholds on them, scrapes that
fail or hang leave the load alone, OTLP pushes once per interval, bad input refused."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from loadnb.cli import command as cli
from loadnb.history.comparison import compare
from loadnb.history.reader import load
from loadnb.results.result import Result
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec

from ..otlp_receiver import OtlpReceiver, sum_of

COUNTER = 'server.demo_requests_total{path="/"}'


def _reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url + "stats/reset", method="POST"),
                           timeout=5).read()


async def _run(url: str, **params: object) -> Result:
    return await Run(make_spec(url, history="off", **params)).run()  # type: ignore[arg-type]


@pytest.fixture
async def bad_endpoint() -> AsyncIterator[str]:
    """A /metrics that answers 500 (``/fail``) or never answers (``/hang``)."""
    released = asyncio.Event()

    async def fail(_: web.Request) -> web.Response:
        return web.Response(status=500, text="no")

    async def hang(_: web.Request) -> web.Response:
        await released.wait()
        return web.Response(text="")

    app = web.Application()
    app.router.add_get("/fail", fail)
    app.router.add_get("/hang", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        released.set()
        await runner.cleanup()


@pytest.mark.slow
async def test_scraped_counter_rate_lines_up_with_the_load(demo_url: str,
                                                           tmp_path: Path) -> None:
    _reset(demo_url)
    # 1 s intervals: a scrape starts a few ms after its tick, and 2 % of an interval must be
    # more than the requests of those few ms
    result = await Run(make_spec(demo_url, rate=200, duration="6s", interval=1,
                                 scrape=[demo_url + "metrics"],
                                 history=str(tmp_path / "h.sqlite"))).run()
    df = result.df
    assert COUNTER in df.columns and "server.process_cpu_seconds_total" in df.columns
    # long format and wide agree, row for row
    long = result.server
    assert set(long.columns) == {"elapsed_time", "series", "value"}
    for t, value in long[long.series == COUNTER][["elapsed_time", "value"]].itertuples(
            index=False):
        row = df[df.elapsed_time == t]
        assert len(row) == 1 and row[COUNTER].iloc[0] == value
    # steady intervals: not the first (ramp-in) nor the last two (final scrape, partial)
    steady = df[(df.phase == "running")].iloc[1:-1]
    assert len(steady) >= 3, df[["elapsed_time", "current_rps", COUNTER]]
    ratio = steady[COUNTER] / steady["current_rps"]
    assert ((ratio - 1).abs() < 0.02).all(), df[["elapsed_time", "current_rps", COUNTER]]
    # kept in the history and in an export, compared
    again = load(result.run_id, tmp_path / "h.sqlite")
    assert again.server.equals(result.server)
    assert COUNTER in again.df.columns
    doc = tmp_path / "run.json"
    result.to_json(doc)
    assert load(str(doc)).server.equals(result.server)
    cmp = compare(result, again)
    assert any(r.scope == "server" and r.metric == COUNTER for r in cmp.rows)
    html = result.report(tmp_path / "r.html").read_text()
    assert "Target: server.demo_requests_total" in html and "Target (server.*)" in html


@pytest.mark.slow
@pytest.mark.parametrize("path", ["fail", "hang"])
async def test_a_failing_scrape_leaves_counts_and_timing_alone(
        demo_url: str, bad_endpoint: str, path: str) -> None:
    params = {"rate": 100, "requests": 200, "interval": 0.5}
    plain = await _run(demo_url, **params)
    scraped = await _run(demo_url, scrape=[f"{bad_endpoint}/{path}"], **params)
    for r in (plain, scraped):
        assert r.summary["total_requests"] == 200 and r.summary["failed_requests"] == 0
    assert abs(len(plain.snapshots) - len(scraped.snapshots)) <= 1
    assert abs(plain.duration_s - scraped.duration_s) < 0.5  # only catches a stall
    assert any("scrape of" in w and "failed" in w for w in scraped.warnings), scraped.warnings
    assert scraped.server.empty


@pytest.mark.slow
def test_a_threshold_on_a_server_metric_passes_and_fails(
        demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["run", demo_url, "--rate", "100", "--duration", "2s", "--no-history", "--quiet",
            "--json", "--scrape", demo_url + "metrics"]
    assert cli.main([*base, "--threshold", "server.demo_requests_total>20"]) == 0
    passed = json.loads(capsys.readouterr().out)["thresholds"][0]
    assert cli.main([*base, "--threshold", "server.demo_requests_total<1"]) == 3
    failed = json.loads(capsys.readouterr().out)["thresholds"][0]
    assert passed["passed"] and not failed["passed"]
    assert 50 < passed["observed"] == pytest.approx(failed["observed"], rel=0.2)


@pytest.mark.parametrize(("args", "says"), [
    (["--scrape", "not-a-url"], "scrape URL"),
    (["--metrics-port", "0"], "metrics port"),
    (["--otlp", "ftp://127.0.0.1:4318"], "OTLP URL"),
    (["--scrape", "http://bob:hunter22@127.0.0.1:9/m", "--otlp", "gopher://x"], "OTLP URL"),
])
def test_bad_observe_input_exits_2_in_one_line(args: list[str], says: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # the target is a loopback port nothing listens on: nothing could be sent anyway, and a
    # run that started would say so in its summary; exit 2 means it never started
    code = cli.main(["run", "http://127.0.0.1:9/", "-n", "1", "--no-history", *args])
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert "hunter22" not in err


def test_a_busy_metrics_port_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = cli.main(["run", "http://127.0.0.1:9/", "-n", "1", "--no-history",
                         "--metrics-port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and f"metrics port {port} is busy" in err


def test_secrets_in_scrape_and_otlp_are_redacted() -> None:
    spec = make_spec("http://127.0.0.1:9/", scrape=["http://bob:hunter22@127.0.0.1:9/m"],
                     otlp="http://127.0.0.1:4318/?token=abcdef123",
                     otlp_headers={"Authorization": "Bearer sekret-value"}, history="off")
    shown = json.dumps(spec.public_params())
    assert "hunter22" not in shown and "abcdef123" not in shown and "sekret" not in shown
    assert "127.0.0.1:9/m" in shown


@pytest.mark.slow
async def test_otlp_one_export_per_interval_and_counts_add_up(demo_url: str) -> None:
    pytest.importorskip("opentelemetry.proto")
    async with OtlpReceiver() as receiver:
        result = await _run(demo_url, rate=100, requests=150, interval=0.5, otlp=receiver.url,
                            otlp_headers={"x-api-key": "k-secret-1"})
    assert len(receiver.exports) == len(result.snapshots)
    total = result.summary["total_requests"]
    last = receiver.exports[-1]
    assert sum_of(last, "loadnb.requests", run_id=result.run_id) == total == 150
    assert sum_of(last, "loadnb.request.duration") == total
    assert last.headers.get("x-api-key") == "k-secret-1"
    counts = [sum_of(e, "loadnb.requests") for e in receiver.exports]
    assert counts == sorted(counts)  # cumulative: never down
    assert not any("k-secret-1" in w for w in result.warnings)


def test_watch_pid_fills_server_process_columns(demo_url: str) -> None:
    import os

    import loadnb

    result = loadnb.run(demo_url, rate=50, duration="1.2s", interval=0.3, history="off",
                        watch_pid=os.getpid())
    rss = f'server.process.rss_bytes{{pid="{os.getpid()}"}}'
    assert rss in result.df.columns
    assert result.df[rss].dropna().gt(0).all() and not math.isnan(result.df[rss].iloc[-1])


def test_otlp_without_its_package_is_one_line_before_anything(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from loadnb.observe import otlp
    from loadnb.spec import observing

    def missing() -> None:
        raise ImportError("--otlp needs the opentelemetry-proto package: " + otlp.INSTALL)

    monkeypatch.setattr(observing, "require_proto", missing)
    code = cli.main(["run", "http://127.0.0.1:9/", "-n", "1", "--no-history",
                     "--otlp", "http://127.0.0.1:4318"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'loadnb[otlp]'" in err and len(err.splitlines()) == 1
