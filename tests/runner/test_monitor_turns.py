"""A periodic tick takes three turns of the event loop: the sources' intervals are closed in the
first, the snapshot built in a later one, recorded, judged and told in a third (the record and the
sinks together), so a callback due meanwhile (the open model's pacer) runs between them instead of
waiting for the whole tick. A final tick first finishes a
periodic one still unfinished, so the record keeps its order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loadnb.metrics.payload import Payload
from loadnb.record.update import Update
from loadnb.runner import monitor as monitor_module
from loadnb.runner.monitor import Monitor
from tests.conftest import until
from tests.doubles import FakeClock, FakeSource, interval, payload
from tests.runner.test_monitor_unit import record


class Marking(FakeSource):
    """A source whose collect() leaves a callback for the loop to run next (a pacer's wake-up
    that came due while the interval was being closed)."""

    def __init__(self, order: list[str], *payloads: Payload) -> None:
        super().__init__(*payloads)
        self.order = order

    def collect(self, *, final: bool) -> Payload:
        self.order.append("collect")
        asyncio.get_running_loop().call_soon(self.order.append, "pacer")
        return super().collect(final=final)


async def test_the_loop_runs_between_closing_an_interval_and_recording_it() -> None:
    order: list[str] = []
    source = Marking(order, payload(interval(completed=3, latencies=[0.01] * 3)))
    m = Monitor([source], record(), [lambda update: order.append("sink")], interval=0.05)
    m.begin()
    task = asyncio.create_task(m.run())
    try:
        await until(lambda: "sink" in order)
    finally:
        task.cancel()
    assert order[:3] == ["collect", "pacer", "sink"], order
    assert m.record.snapshots[0].completed_requests == 3


async def test_the_loop_runs_between_building_a_snapshot_and_recording_it_with_the_sinks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    build = monitor_module.make_snapshot

    def built(*args: Any, **kwargs: Any) -> Any:
        order.append("build")
        asyncio.get_running_loop().call_soon(order.append, "pacer")
        return build(*args, **kwargs)

    monkeypatch.setattr(monitor_module, "make_snapshot", built)
    source = FakeSource(payload(interval(completed=3, latencies=[0.01] * 3)))
    m = Monitor([source], record(), [lambda update: order.append(
        f"sink {len(m.record.snapshots)}")], interval=0.05)
    add = m.record.add

    def recorded(*args: Any, **kwargs: Any) -> None:
        add(*args, **kwargs)
        order.append(f"record {len(m.record.snapshots)}")

    m.record.add = recorded  # type: ignore[method-assign]
    m.begin()
    task = asyncio.create_task(m.run())
    try:
        await until(lambda: any(o.startswith("sink") for o in order))
    finally:
        task.cancel()
    # the pacer between building and recording; the sinks told in the turn that records
    assert order[:4] == ["build", "pacer", "record 1", "sink 1"], order


def ticking_at_half_a_second() -> tuple[Monitor, FakeClock, list[Update]]:
    """A monitor on a fake clock, 0.5 s after its start, whose source closes an interval of 4
    requests and then one of 2; the updates its sink is told."""
    clock = FakeClock(100.0)
    updates: list[Update] = []
    source = FakeSource(payload(interval(completed=4, latencies=[0.01] * 4)),
                        payload(interval(completed=2, latencies=[0.02] * 2)))
    m = Monitor([source], record(), [updates.append], interval=0.5, clock=clock,
                wall=lambda: clock.now, cpu=lambda: 0.0)
    m.begin()
    clock.advance(0.5)
    return m, clock, updates


async def test_a_final_tick_first_finishes_the_periodic_tick_still_half_done() -> None:
    m, clock, updates = ticking_at_half_a_second()
    m._on_tick(0.0)  # noqa: SLF001 - the ticker's call: the interval closed at 100.5
    clock.advance(0.01)  # the run ends before the later turns came
    final = m.tick(final=True)
    first, last = m.record.snapshots
    assert first.elapsed_time == pytest.approx(0.5) and first.completed_requests == 4
    assert final is last and last.elapsed_time == pytest.approx(0.51)
    assert (last.completed_requests, last.interval_completed) == (6, 2)
    assert [u.snapshot for u in updates] == [first, last]
    await asyncio.sleep(0)  # the cancelled second turn does not come back
    await asyncio.sleep(0)
    assert len(m.record.snapshots) == 2 and len(updates) == 2


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 4, 5])
async def test_a_final_tick_after_any_turn_of_a_periodic_one_keeps_the_order(turns: int) -> None:
    """Whichever turn the periodic tick has reached (closed, built, or recorded and told), the
    final tick finishes it first: each interval recorded once, the sinks told once each, in
    order."""
    m, clock, updates = ticking_at_half_a_second()
    m._on_tick(0.0)  # noqa: SLF001 - the ticker's call
    for _ in range(turns):
        await asyncio.sleep(0)
    clock.advance(0.01)
    final = m.tick(final=True)
    for _ in range(6):
        await asyncio.sleep(0)
    first, last = m.record.snapshots
    assert final is last and (first.completed_requests, last.completed_requests) == (4, 6)
    assert [u.snapshot for u in updates] == [first, last]
