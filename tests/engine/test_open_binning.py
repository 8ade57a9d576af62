"""The open model's response times are bucketed as they come, not all at the tick.

At a high rate a tick that buckets a whole interval's raw times holds the event loop for about a
millisecond while arrivals come due; the pacer's wake-ups bucket them in pieces instead
(:data:`~loadnb.engine.arrivals.BIN_AT` at a time). The interval must come out the same.
"""

from __future__ import annotations

import numpy as np

from loadnb import make_spec
from loadnb.engine.arrivals import BIN_AT
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.stats import Recorder
from tests.conftest import until
from tests.doubles import FakeClock
from tests.engine.test_open_lane import URL, arrivals, started_engine, stopped

RATE = 100_000.0
STEP = 0.05  # 5,000 arrivals a step: more than BIN_AT


async def test_the_pacer_buckets_response_times_as_they_fill_and_the_interval_is_the_same() -> None:
    assert STEP * RATE > BIN_AT
    clock = FakeClock()
    engine, recorder, lane, task = await started_engine(
        make_spec(URL, rate=RATE, duration=10, max_in_flight=10_000), clock)
    acc = recorder.stats_for("GET /")
    latencies: list[float] = []
    services: list[float] = []
    raw_after_sends = []
    for step in range(1, 4):
        clock.set(step * STEP)
        await until(lambda: engine.started >= arrivals(RATE, clock()))  # noqa: B023
        raw_after_sends.append(len(acc.latency))  # what the tick would still have to bucket
        clock.set(step * STEP + 0.001)  # answered 1 ms later
        latencies += [clock() - intended for intended, _ in lane.out]
        services += [clock() - sent for _, sent in lane.out]
        lane.answer()
    # the wake-ups of steps 2 and 3 found the last step's answers (5,001 and 5,000) and bucketed
    assert raw_after_sends == [0, 0, 0], raw_after_sends
    total = await stopped(engine, recorder, task)
    assert total.completed == len(latencies) == engine.started
    for got, values in ((total.latency, latencies), (total.service, services)):
        want = Histogram.from_seconds(values)
        assert np.array_equal(got.counts, want.counts)
        assert (got.total, got.min_s, got.max_s) == (want.total, want.min_s, want.max_s)
        assert got.sum_us == want.sum_us or abs(got.sum_us / want.sum_us - 1) < 1e-12


def test_binning_then_swapping_gives_the_interval_swapping_alone_gives() -> None:
    one, two = Recorder(), Recorder()
    accs = [recorder.stats_for("GET /") for recorder in (one, two)]
    rng = np.random.default_rng(7)
    for i, (lat, svc) in enumerate(rng.exponential(0.004, size=(3000, 2))):
        for acc in accs:
            acc.latency.append(lat + svc)
            acc.service.append(svc)
            acc.both.append(lat)
        if i % 1000 == 999:
            accs[1].bin()
    assert len(accs[1].latency) == 0 and accs[1].binned is not None
    a, b = one.swap()["GET /"], two.swap()["GET /"]
    for x, y in ((a.latency, b.latency), (a.service, b.service)):
        assert np.array_equal(x.counts, y.counts) and x.total == y.total == 6000
        assert (x.min_s, x.max_s) == (y.min_s, y.max_s)
    assert accs[1].binned is None
