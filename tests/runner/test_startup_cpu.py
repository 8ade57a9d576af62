"""The CPU of start-up (issue 25): ``summary["startup_cpu_s"]`` is the CPU seconds (user +
system, ``time.process_time()``) this process used from the run's start to its load's start
(the monitor's :meth:`~loadnb.runner.monitor.Monitor.begin`). A run in a notebook counts from
its own start (the CPU at that moment is kept and subtracted); ``loadnb run`` counts from the
process's start (``cpu_from=0.0``: the interpreter and the imports are start-up too; the real
command: tests/cli/test_cli_startup_cpu.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import loadnb.history
from loadnb.record.record import RunRecord
from loadnb.record.summary import build_summary
from loadnb.runner.monitor import Monitor
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.doubles import FakeClock, FakeSource, MockTransport, payload

BUSY_CPU = 0.2


def monitor(cpu: FakeClock) -> tuple[Monitor, FakeClock]:
    clock = FakeClock(100.0)
    record = RunRecord("unit", make_spec("http://127.0.0.1:9/", users=2, duration=10))
    return Monitor([FakeSource(payload(), payload())], record, [], interval=0.5, clock=clock,
                   cpu=cpu), clock


def test_a_run_counts_the_cpu_from_its_own_start_to_its_loads_start() -> None:
    cpu = FakeClock(7.0)  # the process had used 7 s of CPU before the run: not its start-up
    m, clock = monitor(cpu)
    m.run_started()
    cpu.advance(0.2504)  # building the engine, opening the history: start-up
    assert build_summary(m.record)["startup_cpu_s"] is None  # the load has not started
    m.begin()
    cpu.advance(3.0)  # the load's own CPU is not start-up
    clock.advance(0.5)
    m.tick()
    clock.advance(0.5)
    m.tick(final=True)
    assert build_summary(m.record)["startup_cpu_s"] == 0.25


def test_loadnb_run_counts_from_the_process_start() -> None:
    cpu = FakeClock(0.4)  # the interpreter and the imports before the run: start-up too
    m, clock = monitor(cpu)
    m.run_started(cpu_from=0.0)
    cpu.advance(0.1)
    m.begin()
    cpu.advance(1.0)
    clock.advance(0.5)
    m.tick(final=True)
    assert build_summary(m.record)["startup_cpu_s"] == 0.5


def test_a_record_that_never_started_has_no_startup_cpu() -> None:
    record = RunRecord("unit", make_spec("http://127.0.0.1:9/", users=2, duration=10))
    assert build_summary(record)["startup_cpu_s"] is None


async def test_a_run_in_this_process_counts_its_own_start_up_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def busy_open(record: Any) -> None:
        end = time.process_time() + BUSY_CPU  # a CPU-bound start-up (a slow history open)
        while time.process_time() < end:
            pass

    monkeypatch.setattr(loadnb.history, "open_writer", busy_open)
    transport = MockTransport(delay=0.001)
    run = Run(make_spec("http://127.0.0.1:9/", users=1, requests=5),
              transport=lambda options: transport)
    before = time.process_time()
    result = await asyncio.wait_for(run.run(), 30)
    spent = time.process_time() - before
    cpu = result.summary["startup_cpu_s"]
    assert cpu is not None and BUSY_CPU <= cpu <= spent, (cpu, spent)
