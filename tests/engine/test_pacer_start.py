"""The open model's clock starts when its first arrivals can leave.

The pacer's timer (a timerfd, :class:`~loadnb.engine.timer.PreciseSleeper`) used to be made
after the run's clock had started, and making it looked libc up with
``ctypes.util.find_library``, which runs ``ldconfig -p`` in a subprocess: the first arrivals,
due at the clock's start, waited 1.5-3 ms for it, and at 0.8x the closed model's throughput that
backlog took tens of milliseconds to drain.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys

import pytest

from loadnb.engine import timer
from loadnb.spec.config import make_spec
from tests.doubles import MockTransport
from tests.engine.engine_helpers import URL, engine_of


async def test_the_precise_timer_is_made_without_starting_a_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process started: {args[:1]}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    sleeper = timer.PreciseSleeper(asyncio.get_running_loop())
    try:
        if sys.platform.startswith("linux"):
            assert sleeper.precise
    finally:
        sleeper.close()


async def test_the_pacer_timer_is_made_before_the_run_clock_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = engine_of(make_spec(URL, rate=200, requests=5), MockTransport())
    made_at: list[float] = []
    original = timer.PreciseSleeper.__init__

    def init(self: timer.PreciseSleeper, loop: asyncio.AbstractEventLoop) -> None:
        made_at.append(engine.t0)  # NaN until the run's clock starts
        original(self, loop)

    monkeypatch.setattr(timer.PreciseSleeper, "__init__", init)
    await asyncio.wait_for(engine.run(), 10)
    assert engine.started == 5
    assert len(made_at) == 1 and math.isnan(made_at[0]), made_at
