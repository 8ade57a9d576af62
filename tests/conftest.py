"""Suite-wide settings and the pieces many tests share.

Every run in the tests checks its own accounting (``LOADNB_DEBUG=1``). Shared here: the
:func:`demo_url` fixture (one demo server for the session), :func:`assert_accounting` (what a test
checks of a finished run's numbers) and :func:`until` (wait for something to happen, bounded).
Test doubles (a mock transport, a fake clock, a scripted source) are in ``tests/doubles.py``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from loadnb.record.accounting import check_accounting
from loadnb.results.result import Result
from loadnb.runner.run import Run
from tests.prometheus import Prometheus, find_prometheus

os.environ.setdefault("LOADNB_DEBUG", "1")
os.environ.setdefault("BOKEH_RESOURCES", "inline")
os.environ.setdefault("LOADNB_HISTORY", os.path.join(tempfile.gettempdir(),
                                                     f"loadnb-history-{os.getpid()}.sqlite"))


@pytest.fixture(scope="session")
def demo_url() -> Iterator[str]:
    """The URL of the built-in demo server (``loadnb.demo``, in its own process on 127.0.0.1),
    one for the whole session, stopped at its end.

    It keeps state from test to test: its counters (``GET /stats``: a test that compares them
    with a run must zero them first with ``POST /stats/reset``) and its item store (items created
    by ``POST /api/items`` stay; ``/api/items/{id}`` of an item a test created keeps working).
    """
    from loadnb import demo

    url = demo.start_sync()
    try:
        yield url
    finally:
        demo.stop_sync(url)


@pytest.fixture(scope="session")
def flaky_url() -> Iterator[str]:
    """A second demo server that answers 30 % of requests with 500, in about 2 ms (seeded)."""
    from loadnb import demo

    url = demo.start_sync(error_rate=0.3, latency_ms=2, seed=7)
    try:
        yield url
    finally:
        demo.stop_sync(url)


def assert_accounting(result: Result | Run, server_count: int | None = None) -> dict[str, Any]:
    """Check a finished run's numbers and return its summary.

    Every request counted exactly once (:func:`loadnb.result.check_accounting`: per name and
    overall started = completed + failed + cancelled, the snapshots' interval counts sum to the
    totals, the last snapshot shows them); the last snapshot is the final one (phase ``done``),
    short of 100 % progress exactly when the run was stopped; and with ``server_count`` (what the
    server received), as many requests in total as the server saw.
    """
    if isinstance(result, Run):
        result = result.result
    check_accounting(result)
    last = result.snapshots[-1]
    assert last.phase == "done", last.phase
    assert (last.progress_percent < 100.0) == (result.state == "stopped"), (
        last.progress_percent, result.state)
    summary = result.summary
    if server_count is not None:
        assert summary["total_requests"] == server_count, (summary["total_requests"],
                                                           server_count)
    return summary


async def until(predicate: Callable[[], object], timeout: float = 5.0, *, step: float = 0.005,
                what: str = "") -> None:
    """Wait until ``predicate()`` is true, checking it every ``step`` seconds; fail the test
    (AssertionError) if it is still false after ``timeout`` seconds.

    For a test that waits for something to happen (``await until(lambda: len(run.snapshots) >= 3)``)
    rather than sleeping for a guessed time. Keep ``predicate`` cheap: it runs every ``step``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"not true within {timeout:g} s: {what or predicate!r}")
        await asyncio.sleep(step)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's, driven by pip playwright) for the real-browser tests;
    skipped where it is not installed."""
    from .browser.jupyter import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium): no real-browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def prometheus() -> Iterator[Prometheus]:
    binary = find_prometheus()
    if binary is None:
        pytest.skip("prometheus is not installed (make sysdeps)")
    with Prometheus(binary) as server:
        yield server
