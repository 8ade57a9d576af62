"""The open model with no task per arrival, the engine's side: the pacer, and the engine on a
mock lane and a fake clock (counts follow from the plan, not from the machine). The fast
transport's :class:`~loadnb.transport.lane.Lane` is tested in tests/transport/test_lane.py, the
whole run against real servers in tests/loopback/test_open_lane.py.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from typing import Any

import numpy as np
import pytest

from loadnb import Run, make_spec
from loadnb.engine.generator import Engine
from loadnb.engine.source import LocalSource
from loadnb.engine.timer import BATCH, PACE_GAP, Pacer
from loadnb.metrics.stats import IntervalStats, Recorder
from tests.conftest import until
from tests.doubles import FakeClock, MockLane, MockLaneTransport

URL = "http://127.0.0.1:9/"  # never contacted by the mock


def arrivals(rate: float, t: float) -> int:
    """Arrivals due by ``t`` at a constant ``rate``: the first at 0, then one every 1/rate s."""
    return math.floor(rate * t) + 1


async def started_engine(spec: Any, clock: FakeClock) -> tuple[Engine, Recorder, MockLane,
                                                                asyncio.Task[None]]:
    transport = MockLaneTransport()
    recorder = Recorder()
    engine = Engine(spec, transport, recorder, clock)
    task = asyncio.create_task(engine.run())
    await until(lambda: transport.the_lane is not None)
    assert transport.the_lane is not None
    return engine, recorder, transport.the_lane, task


async def stopped(engine: Engine, recorder: Recorder, task: asyncio.Task[None]) -> IntervalStats:
    """Stop the engine, wait for its end: the run's totals, what never ended settled."""
    engine.stop()
    await asyncio.wait_for(task, 5)
    return recorder.swap(settle=True)["GET /"]


# -- the pacer ----------------------------------------------------------------------------------
def test_the_pacer_wakes_for_the_next_arrival_and_late_wake_ups_catch_up() -> None:
    pacer = Pacer(lambda t: 2000.0, 10.0, start=100.0)
    assert pacer.due(1e-9) == [100.0]  # arrival 0, as a clock reading
    assert pacer.wake(1e-9) == pytest.approx(0.0005)
    # woken late, at 0.7 ms: the next wake-up is still arrival 2's time, not 0.7 ms + BATCH
    assert pacer.due(0.0007) == [pytest.approx(100.0005)]
    assert pacer.wake(0.0007) == pytest.approx(0.001)
    # at 40,000/s the arrivals due within BATCH of each other share one wake-up
    fast = Pacer(lambda t: 40_000.0, 10.0)
    assert fast.due(1e-9) == [0.0]
    first = fast.wake(1e-9)
    assert first == pytest.approx(25e-6) and len(fast.due(first + 1e-9)) == 1
    second = fast.wake(first + 1e-9)
    assert second == pytest.approx(first + BATCH)
    assert len(fast.due(second + 1e-9)) == round(40_000 * BATCH)
    # the end: no arrival due at the end of the duration itself, rounding or not
    short = Pacer(lambda t: 100.0, 0.5)
    assert len(short.due(0.5)) == 50 and short.ended


def test_a_wake_up_asked_again_before_it_comes_is_kept_on_the_batch_grid() -> None:
    """A response paces before the timer's wake-up: the timer's tick that follows asks again
    and must keep the wake-up asked for, so at high rates the wake-ups stay one BATCH apart on
    one grid (a periodic timer set once) instead of creeping forward."""
    pacer = Pacer(lambda t: 40_000.0, 10.0)
    pacer.due(1e-9)
    at = pacer.wake(1e-9)  # 25 us: arrival 1
    pacer.due(at + 1e-6)  # a response at the wake-up time paces first
    grid = pacer.wake(at + 1e-6)
    assert grid == pytest.approx(at + BATCH)
    pacer.due(at + 2e-6)  # then the timer's own tick, asked for ``at``, comes
    assert pacer.wake(at + 2e-6) == grid  # kept, not one BATCH later
    assert len(pacer.due(grid)) == round(40_000 * BATCH)


def test_the_pacer_asks_the_rate_once_a_step_and_again_after_a_change() -> None:
    asked: list[float] = []
    rate = [100.0]

    def at(t: float) -> float:
        asked.append(t)
        return rate[0]

    pacer = Pacer(at, 10.0)
    assert len(pacer.due(0.5)) == 51
    assert asked[0] == 0.0 and len(set(asked)) == len(asked)  # each step's end, asked once
    steps = len(asked)
    pacer.wake(0.5)
    assert len(asked) == steps  # the rate at 0.5 is the last step's
    rate[0] = 1000.0
    pacer.changed()  # a live override: asked again at the change, not taken from the last step
    assert len(pacer.due(0.55)) == 50 and asked[steps:] == [0.5, 0.55]


async def test_the_precise_sleeper_ticks_on_a_period_until_cancelled() -> None:
    """The pacer's periodic timer: one call, then a call every period on the timer's grid."""
    from loadnb.engine.timer import PreciseSleeper

    ticks: list[float] = []
    enough = asyncio.Event()

    def tick() -> None:
        ticks.append(time.perf_counter())
        if len(ticks) == 5:
            enough.set()

    sleeper = PreciseSleeper(asyncio.get_running_loop())
    try:
        start = time.perf_counter()
        sleeper.call_later(0.001, tick, 0.002)
        await asyncio.wait_for(enough.wait(), 5)
        sleeper.cancel()
        count = len(ticks)
        await asyncio.sleep(0.02)  # nothing more once cancelled
        assert len(ticks) == count
    finally:
        sleeper.close()
    assert ticks[0] - start >= 0.001 and ticks[4] - start >= 0.001 + 4 * 0.002  # never early


# -- the engine's side: a mock lane, a fake clock ------------------------------------------------
async def test_arrivals_go_to_the_lane_on_the_clock_with_no_task_each() -> None:
    clock = FakeClock()
    tasks_before = len(asyncio.all_tasks())
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=200, requests=120), clock)
    clock.set(0.2525)  # 51.5 due: arrivals 0..50
    await until(lambda: engine.started >= arrivals(200, 0.2525))
    assert engine.started == len(lane.sent) == lane.in_flight == 51
    assert len(asyncio.all_tasks()) == tasks_before + 1  # the engine's run: nothing per arrival
    assert engine.active_users == 51
    lane.answer()  # all at 0.2525: response time from when each was due, service from its send
    stats = recorder.swap()["GET /"]
    assert (stats.started, stats.completed) == (51, 51)
    assert stats.latency.max_s == pytest.approx(0.2525)  # arrival 0, due at 0
    assert stats.latency.min_s == pytest.approx(0.2525 - 50 / 200)
    assert stats.service.max_s <= 0.2525 and stats.service.min_s == 0.0
    lags = [sent - intended for intended, sent in lane.sent]
    assert engine.take_send_lag() == pytest.approx(
        1e3 * float(np.percentile(lags, 99, method="inverted_cdf")))
    assert math.isnan(engine.take_send_lag())  # taken: nothing new since
    clock.set(5.0)  # 1001 due, but the run ends at its 120th request
    await until(lambda: engine.started == 120 and lane.in_flight == 69)
    lane.answer()
    await asyncio.wait_for(task, 5)
    assert (engine.started, engine.dropped, len(lane.sent)) == (120, 0, 120)
    total = recorder.swap(settle=True)["GET /"]
    assert (total.started, total.completed, total.cancelled) == (69, 69, 0)


async def test_arrivals_beyond_max_in_flight_are_dropped_not_sent() -> None:
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=100, requests=50, max_in_flight=5), clock)
    clock.set(0.205)  # 21 due: 5 fit under the cap, 16 are dropped
    await until(lambda: engine.started + engine.dropped >= 21)
    assert (engine.started, engine.dropped, lane.in_flight, len(lane.sent)) == (5, 16, 5, 5)
    lane.answer(3)
    lane.fail(ConnectionResetError(104, "reset"))  # ended either way: room for 4 more
    clock.set(0.255)  # 5 more due: 4 start, 1 dropped
    await until(lambda: engine.started + engine.dropped >= 26)
    assert (engine.started, engine.dropped) == (9, 17)
    stats = await stopped(engine, recorder, task)
    assert (stats.started, stats.completed, stats.failed, stats.cancelled) == (9, 3, 1, 5)
    assert stats.errors == {"connection reset": 1}


async def test_stop_closes_the_lane_and_what_was_in_flight_is_cancelled() -> None:
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=100, duration=10), clock)
    clock.set(0.105)  # 11 due
    await until(lambda: engine.started >= 11)
    lane.answer(4)
    lane.fail(TimeoutError("no complete response within 10s"), n=2)
    stats = await stopped(engine, recorder, task)
    assert lane.closed and engine.started == 11
    assert (stats.started, stats.completed, stats.failed, stats.cancelled) == (11, 4, 2, 5)
    assert stats.errors == {"timeout": 2}


async def test_every_arrival_due_before_the_end_is_sent_and_the_lane_gets_the_grace() -> None:
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=100, duration=0.5, graceful_stop=0.3, timeout=5), clock)
    clock.set(0.5)  # due before the end: arrivals 0..49 (the 51st is due at the end itself)
    await until(lambda: engine.phase == "ending")
    assert engine.started == len(lane.sent) == 50 == 100 * 0.5
    lane.answer(30)  # within the grace: counted
    await asyncio.wait_for(task, 5)  # the grace (0.3 s) ends with 20 still out
    assert lane.closed
    stats = recorder.swap(settle=True)["GET /"]
    assert (stats.started, stats.completed, stats.cancelled) == (50, 30, 20)


async def test_the_objects_before_the_run_are_frozen_for_the_collector_while_it_runs() -> None:
    assert gc.get_freeze_count() == 0
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(make_spec(URL, rate=10, duration=10),
                                                        clock)
    assert gc.get_freeze_count() > 1000  # (a full collection scans only what the run makes)
    await stopped(engine, recorder, task)
    assert gc.get_freeze_count() == 0


async def test_the_send_lag_reaches_the_status() -> None:
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=1000, duration=10), clock)
    source = LocalSource(engine, recorder, engine.transport)
    clock.set(0.0495)  # 50 due (0..49); they leave at the wake-up that sees 49.5 ms
    await until(lambda: engine.started >= 50)
    status = source.collect(final=False).status
    lags = sorted(sent - intended for intended, sent in lane.sent)
    assert status.send_lag_p99_ms == pytest.approx(1e3 * lags[-1], rel=0.05)
    assert 0 < status.send_lag_p99_ms <= 49.5
    assert math.isnan(source.collect(final=False).status.send_lag_p99_ms)  # none since
    engine.stop()
    await asyncio.wait_for(task, 5)



async def test_the_send_lag_is_a_df_column_and_the_summary_keeps_its_worst(
        demo_url: str) -> None:
    """The open model: every interval's send-lag p99 is ``df.send_lag_p99_ms`` and
    ``summary["generator"]["send_lag_p99_ms"]`` is the worst of them; the closed model has
    none."""
    result = await Run(make_spec(demo_url, rate=200, duration=0.6, interval=0.1,
                                 transport="fast", history="off")).run()
    lags = result.df.send_lag_p99_ms
    assert lags.notna().sum() >= 3 and (lags.dropna() >= 0).all()
    assert result.summary["generator"]["send_lag_p99_ms"] == round(float(lags.max()), 3)
    closed = await Run(make_spec(demo_url, users=2, duration=0.3, interval=0.1,
                                 history="off")).run()
    assert closed.df.send_lag_p99_ms.isna().all()
    assert closed.summary["generator"]["send_lag_p99_ms"] is None


async def test_a_response_may_send_the_next_arrival_once_it_is_due_not_at_the_next_batch() -> None:
    """The pacer's own wake-ups fall on a grid BATCH apart at high rates; a response that comes
    once the next arrival is due sends it then (the lane's ``due_at``), at most one such pace
    every PACE_GAP: arrivals leave near their time, not up to BATCH late."""
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=5_000, duration=5.0), clock)
    clock.set(0.01)  # arrivals 0..50 due (one every 0.2 ms)
    await until(lambda: engine.started == 51)
    assert lane.pace is not None
    clock.set(0.0102)  # a response as arrival 51 comes due: it is sent
    lane.pace()
    assert engine.started == 52
    # the next is due at 10.4 ms: a response from then on sends it (the grid's next: 10.7 ms)
    assert lane.due_at == pytest.approx(engine.t0 + 0.0104)
    clock.set(0.01039)  # a response just before: nothing sent, and no pace within PACE_GAP
    lane.pace()
    assert engine.started == 52
    assert lane.due_at == pytest.approx(engine.t0 + 0.01039 + PACE_GAP)
    await stopped(engine, recorder, task)
