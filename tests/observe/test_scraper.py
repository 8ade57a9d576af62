"""The scraper against real servers on loopback: the demo's /metrics (counter rates exact with a
fake clock, gauges as read), and a server that hangs, answers 500 or garbage (warnings, gaps,
the task never raises, the caller never waits); several URLs, the series cap, secrets, bad
inputs. And the process watcher on real processes."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from loadnb import demo
from loadnb.observe.process import ProcessWatcher
from loadnb.observe.scraper import Scraper

from ..conftest import until
from .test_exporter import free_port


def ok(scraper: Scraper) -> int:
    """Scrapes that worked so far."""
    return scraper.scrapes - scraper.failures


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


@pytest.fixture
async def demo_app_url() -> AsyncIterator[str]:
    """The demo app in this process on 127.0.0.1 (its counters are this test's alone)."""
    runner, url = await serve(demo.create_app())
    yield url
    await runner.cleanup()


@dataclass
class Flaky:
    """A /metrics endpoint told how to answer: ok, hang, fail (500) or garbage."""

    mode: str = "ok"
    jobs: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    auth: list[str] = field(default_factory=list)  # the Authorization headers received
    waiting: int = 0  # requests that hung

    async def handle(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization", ""))
        if self.mode == "hang":
            self.waiting += 1
            await self.release.wait()
        if self.mode == "fail":
            return web.Response(status=500, text="broken")
        if self.mode == "garbage":
            return web.Response(text="<html>not metrics</html>\njobs_total 1\n")
        self.jobs += 7
        return web.Response(text=f"# TYPE jobs counter\njobs_total {self.jobs}\nqueue_depth 3\n")


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[Flaky, str]]:
    state = Flaky()
    app = web.Application()
    app.router.add_get("/metrics", state.handle)
    runner, url = await serve(app)
    yield state, url + "metrics"
    state.release.set()
    await runner.cleanup()


async def test_the_demos_metrics_rates_and_gauges(demo_app_url: str) -> None:
    now = [10.0]
    scraper = Scraper([demo_app_url + "metrics"], interval=0.2, timeout=2.0,
                      clock=lambda: now[0])
    await scraper.start()
    try:
        await until(lambda: ok(scraper) >= 1, 10, what="a first scrape")
        first = scraper.take()
        assert math.isnan(first["server.process_cpu_seconds_total"])  # no rate yet
        assert first["server.process_resident_memory_bytes"] > 1e6
        assert first["server.process_open_fds"] >= 3
        assert "server.demo_in_flight" not in first  # a gauge outside the default filter
        now[0] = 20.0
        async with aiohttp.ClientSession() as session:
            for path in ["", "api/items"] * 15 + [""] * 5:
                async with session.get(demo_app_url + path) as resp:
                    assert resp.status == 200
        seen = ok(scraper)
        await until(lambda: ok(scraper) >= seen + 2, 10, what="scrapes after the load")
        second = scraper.take()
        # new paths since the baseline: counted from 0, exactly (20 and 15 requests in 10 s)
        assert second['server.demo_requests_total{path="/"}'] == 2.0
        assert second['server.demo_requests_total{path="/api/items"}'] == 1.5
        assert scraper.warnings == [] and scraper.failures == 0
    finally:
        await scraper.aclose()


async def test_hang_500_and_garbage_are_warnings_and_gaps(flaky: tuple[Flaky, str]) -> None:
    state, url = flaky
    warned: list[str] = []
    scraper = Scraper([url], interval=0.2, timeout=0.5, warn=warned.append)
    await scraper.start()
    loop = asyncio.get_running_loop()
    try:
        await until(lambda: ok(scraper) >= 2, 10, what="two scrapes")
        values = scraper.take()
        assert set(values) == {"server.jobs_total"}  # queue_depth: a gauge, not kept by default
        for mode, reason in (("hang", "no answer within 0.5 s"), ("fail", "HTTP 500")):
            state.mode = mode
            failures = scraper.failures
            await until(lambda f=failures: scraper.failures >= f + 2, 10, what=mode)
            t0 = loop.time()
            gap = scraper.take()
            assert loop.time() - t0 < 0.5  # take() never waits for a scrape
            assert set(gap) == {"server.jobs_total"} and math.isnan(gap["server.jobs_total"])
            assert reason in warned[-1], warned
            assert scraper._task is not None and not scraper._task.done()
        assert sum("failed" in w for w in warned) == 2  # once per reason, not per scrape
        state.mode = "garbage"
        await until(lambda: any("could not be read" in w for w in warned), 10, what="garbage")
        state.mode = "ok"
        await until(lambda: "works again" in warned[-1], 10, what="recovery")
        scraper.take()
        done = ok(scraper)
        await until(lambda: ok(scraper) >= done + 1, 10, what="one more scrape")
        assert scraper.take()["server.jobs_total"] > 0
        hung = state.waiting
        state.mode = "hang"  # closing during a hung scrape is prompt
        await until(lambda: state.waiting > hung, 10, what="hung again")
    finally:
        t0 = loop.time()
        await scraper.aclose()
        assert loop.time() - t0 < 5


async def test_a_refused_connection_is_a_warning() -> None:
    scraper = Scraper([f"http://127.0.0.1:{free_port()}/metrics"], interval=0.2, timeout=0.5)
    await scraper.start()
    try:
        await until(lambda: scraper.failures >= 1, 10, what="a failed scrape")
        assert scraper.take() == {}  # nothing known yet: nothing to leave a gap in
    finally:
        await scraper.aclose()
    assert "cannot connect" in scraper.warnings[0]


async def test_several_urls_get_an_instance_label(demo_app_url: str,
                                                  flaky: tuple[Flaky, str]) -> None:
    _, url = flaky
    scraper = Scraper([demo_app_url + "metrics", url], interval=0.2, timeout=2.0,
                      match="jobs|process_open")
    await scraper.start()
    try:
        await until(lambda: ok(scraper) >= 2 and all(t.fresh for t in scraper.targets), 10,
                    what="both scraped")
        names = set(scraper.take())
    finally:
        await scraper.aclose()
    demo_host, flaky_host = (u.split("/")[2] for u in (demo_app_url, url))
    assert names == {f'server.process_open_fds{{instance="{demo_host}"}}',
                     f'server.jobs_total{{instance="{flaky_host}"}}'}


async def test_the_series_cap_warns_once() -> None:
    async def many(request: web.Request) -> web.Response:
        return web.Response(text="".join(f'x_total{{i="{i}"}} {i}\n' for i in range(50)))

    app = web.Application()
    app.router.add_get("/metrics", many)
    runner, url = await serve(app)
    scraper = Scraper([url + "metrics"], interval=0.2, timeout=2.0, max_series=20)
    await scraper.start()
    try:
        await until(lambda: ok(scraper) >= 3, 10, what="three scrapes")
        assert len(scraper.take()) == 20
    finally:
        await scraper.aclose()
        await runner.cleanup()
    assert [w for w in scraper.warnings if "more than 20" in w] == scraper.warnings
    assert len(scraper.warnings) == 1


async def test_secrets_in_the_url_and_headers_are_never_shown(flaky: tuple[Flaky, str]) -> None:
    state, url = flaky
    state.mode = "fail"
    secret_url = url.replace("http://", "http://me:pa55word@") + "?token=t0ken"
    for urls, headers in (([secret_url], {}), ([url], {"Authorization": "Bearer b3arer"})):
        scraper = Scraper(urls, interval=0.2, headers=headers)
        await scraper.start()
        try:
            await until(lambda s=scraper: s.failures >= 1, 10, what="a failed scrape")
        finally:
            await scraper.aclose()
        text = " ".join(scraper.warnings)
        assert "HTTP 500" in text
        assert "pa55word" not in text and "t0ken" not in text and "b3arer" not in text
    assert "Basic bWU6cGE1NXdvcmQ=" in state.auth and "Bearer b3arer" in state.auth
    with pytest.raises(ValueError, match="either in the URL or in an Authorization header"):
        Scraper([secret_url], headers={"Authorization": "Bearer b3arer"})


@pytest.mark.parametrize("urls,options,message", [
    (["not a url"], {}, "http:// or https://"), (["ftp://127.0.0.1/m"], {}, "http:// or https://"),
    ([], {}, "non-empty list"), ("http://127.0.0.1/m", {}, "non-empty list"),
    (["http://127.0.0.1:0x/m"], {}, "not a URL"), ([9100], {}, "must be a string"),
    (["http://127.0.0.1/m"], {"interval": 0}, "interval"),
    (["http://127.0.0.1/m"], {"timeout": -1}, "timeout"),
    (["http://127.0.0.1/m"], {"match": "[a"}, "not a regular expression"),
])
def test_bad_inputs(urls: object, options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scraper(urls, **options)  # type: ignore[arg-type]


def test_a_bad_url_message_hides_its_secret() -> None:
    with pytest.raises(ValueError) as info:
        Scraper(["ftp://me:pa55word@127.0.0.1/m"])
    assert "pa55word" not in str(info.value)


# -- the process watcher -------------------------------------------------------------------------

async def test_watch_this_process() -> None:
    watcher = ProcessWatcher(os.getpid())
    await watcher.start()
    t0 = time.process_time()
    while time.process_time() - t0 < 0.05:  # some CPU to see
        pass
    values = watcher.take()
    pid = os.getpid()
    assert set(values) == {f'server.process.{s}{{pid="{pid}"}}'
                           for s in ("cpu_percent", "rss_bytes", "threads", "open_fds")}
    assert values[f'server.process.cpu_percent{{pid="{pid}"}}'] > 0
    assert values[f'server.process.rss_bytes{{pid="{pid}"}}'] > 1e6
    assert values[f'server.process.threads{{pid="{pid}"}}'] >= 1
    assert values[f'server.process.open_fds{{pid="{pid}"}}'] >= 3
    await watcher.aclose()


async def test_a_process_that_ends_is_one_warning_then_nan() -> None:
    child = await asyncio.create_subprocess_exec(sys.executable, "-c",
                                                 "import time; time.sleep(60)")
    try:
        watcher = ProcessWatcher(child.pid)
        await watcher.start()
        assert watcher.take()[f'server.process.threads{{pid="{child.pid}"}}'] >= 1
    finally:
        child.kill()
        await asyncio.wait_for(child.wait(), 10)
    assert all(math.isnan(v) for v in watcher.take().values())
    assert all(math.isnan(v) for v in watcher.take().values())
    assert len(watcher.warnings) == 1 and str(child.pid) in watcher.warnings[0]


@pytest.mark.parametrize("pid", [0, -1, "12", True, 2**22 + 12345])
def test_bad_pids(pid: object) -> None:
    with pytest.raises(ValueError, match="watch pid"):
        ProcessWatcher(pid)  # type: ignore[arg-type]


async def test_a_large_scrape_is_parsed_in_parts_letting_the_loop_run() -> None:
    from loadnb.observe.scraper import PARSE_LINES

    text = "".join(f'x_total{{i="{i}"}} {i}\n' for i in range(20 * PARSE_LINES))
    scraper = Scraper(["http://127.0.0.1:1/metrics"], max_series=10**6)
    turns = 0

    async def heartbeat() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    before = turns
    await scraper._took(scraper.targets[0], 1.0, text)
    beat.cancel()
    assert turns - before >= 19  # the loop ran between the parts
    assert scraper.targets[0].fresh is not None and len(scraper.targets[0].fresh[1]) == 5000
