"""Helpers of the engine unit tests: an engine on a mock transport, run as a task, arrivals due."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator

from loadnb.engine.generator import Engine
from loadnb.metrics.stats import Recorder
from loadnb.spec.config import LoadSpec
from tests.conftest import until
from tests.doubles import FakeClock, MockTransport

URL = "http://127.0.0.1:9/"  # never contacted: the mock transport answers


def engine_of(spec: LoadSpec, transport: MockTransport,
              clock: FakeClock | None = None) -> tuple[Engine, Recorder]:
    recorder = Recorder()
    return Engine(spec, transport, recorder, clock or time.perf_counter), recorder


@contextlib.asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[asyncio.Task[None]]:
    """Run the engine as a task for the block (entered once it has started: its ``t0`` read,
    so a fake clock may move); stop it at the end if it is still going."""
    task = asyncio.create_task(engine.run())
    try:
        await until(lambda: engine.phase != "idle")
        yield task
    finally:
        if not task.done():
            engine.stop()
        await asyncio.wait_for(task, 5)


def arrivals(rate: float, t: float) -> int:
    """Arrivals due by ``t`` at a constant ``rate``: the first at 0, then one every 1/rate s."""
    return math.floor(rate * t) + 1


def hang(seconds: float = 30.0) -> MockTransport:
    """A transport whose answers take ``seconds`` (longer than any test: they get cancelled)."""
    return MockTransport(delay=seconds)
