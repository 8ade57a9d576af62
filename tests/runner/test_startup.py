"""Start-up is not load (issue 20, item 4), in this process: the run's clock starts when the load
starts, whatever came before it (building the engine, opening the history), and the summary
reports the start-up apart as ``startup_s``. (With workers:
tests/distributed/test_distributed_files.py.)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import loadnb.history
from loadnb.metrics.snapshot import Snapshot
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.conftest import assert_accounting
from tests.doubles import MockTransport

SLOW_START = 0.4


async def test_a_slow_start_is_not_counted_in_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_open(record: Any) -> None:
        time.sleep(SLOW_START)  # a history on a slow disk: the load has not started yet
        return None

    monkeypatch.setattr(loadnb.history, "open_writer", slow_open)
    transport = MockTransport(delay=0.005)
    run = Run(make_spec("http://127.0.0.1:9/", users=2, duration="0.5s", interval="0.25s"),
              transport=lambda options: transport)
    first: list[Snapshot] = []
    run.subscribe(lambda snap: first.append(snap) if not first else None)
    began = time.monotonic()
    result = await asyncio.wait_for(run.run(), 30)
    wall = time.monotonic() - began
    summary = assert_accounting(result)
    assert summary["startup_s"] >= SLOW_START
    # The run's clock started after the slow open: its duration and the open fit in the wall
    # time (counted in, the duration would be the whole wall time); it lasted its 0.5 s.
    assert 0.5 <= summary["duration_s"] <= wall - SLOW_START, (summary["duration_s"], wall)
    assert first[0].phase == "running" and first[0].progress_percent > 0


async def test_startup_is_small_without_workers() -> None:
    transport = MockTransport(delay=0.005)
    run = Run(make_spec("http://127.0.0.1:9/", users=1, requests=5, history="off"),
              transport=lambda options: transport)
    summary = assert_accounting(await asyncio.wait_for(run.run(), 30))
    assert 0 <= summary["startup_s"] < SLOW_START
