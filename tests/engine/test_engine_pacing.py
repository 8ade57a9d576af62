"""The engine with a mock transport: the Admission seam, think time ranges and pacing."""

from __future__ import annotations

import itertools
import statistics
import time

from loadnb.engine.work import SingleRequest
from loadnb.metrics.stats import Recorder
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from loadnb.transport.base import Request
from tests.doubles import MockTransport, Reply
from tests.engine.engine_helpers import URL


# -- the Admission seam ------------------------------------------------------------------------
class Budget:
    """An :class:`~loadnb.engine.work.Admission` that admits ``n`` requests, then none."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.closed = False

    def admit(self, now: float | None = None) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def close(self) -> None:
        self.closed = True


async def test_a_request_refused_by_the_admission_is_neither_sent_nor_counted() -> None:
    transport = MockTransport(lambda request: (404, 3))
    acc = Recorder().stats_for("GET /")
    work = SingleRequest(Budget(2), transport, acc, Request("GET", URL), lambda s: s < 400,
                         time.perf_counter)
    for _ in range(4):
        await work.begin(None, None)
    assert transport.sent == 2 and acc.started == 2
    assert (acc.completed, acc.failed, acc.errors, acc.bytes) == (0, 2, {"HTTP 404": 2}, 6)
    assert [r.url for r in transport.requests] == [URL, URL]


def send_times(handler_delay: float) -> tuple[list[float], MockTransport]:
    """A mock transport that notes the monotonic time of every send."""
    times: list[float] = []

    def stamp(request: Request) -> Reply:
        times.append(time.monotonic())
        return 200, 0

    return times, MockTransport(stamp, delay=handler_delay)


async def test_think_time_range_draws_each_pause_within_it() -> None:
    times, mock = send_times(0.0)
    spec = make_spec(URL, users=1, duration=1.2, think_time=(0.04, 0.12), seed=3)
    await Run(spec, transport=lambda options: mock).run()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 6
    # never shorter than the range; longer only by a busy machine's timer slack (the median
    # decides, not one stretched pause)
    assert min(gaps) >= 0.035 and statistics.median(gaps) <= 0.12 + 0.05, gaps
    assert max(gaps) - min(gaps) > 0.02  # drawn, not constant


async def test_pacing_starts_iterations_on_a_fixed_interval() -> None:
    times, mock = send_times(0.05)  # each iteration takes about 50 ms of the 200 ms slot
    spec = make_spec(URL, users=1, duration=1.1, pacing="200ms")
    result = await Run(spec, transport=lambda options: mock).run()
    starts = [t - 0.05 for t in times]  # the stamp is at the end of the delay
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert 4 <= len(times) <= 6 and result.summary["parameters"]["pacing"] == 0.2
    # every start on the 200 ms grid from the first, never early (20 ms for a stamp a busy
    # machine delayed: a late stamp makes the next gap look short, not the start early); not
    # 50 ms of work + 200 ms of pause (the median decides, not one delayed start)
    assert all(b - starts[0] >= 0.2 * k - 0.02 for k, b in enumerate(starts)), gaps
    assert min(gaps) >= 0.15 and statistics.median(gaps) <= 0.23, gaps
