"""Measurement truth: stalls show in the percentiles, numbers agree with an independent clock,
and the generator says when it is itself the bottleneck."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import numpy as np
import pytest

from loadnb import Result, Run, Snapshot, make_spec
from loadnb.metrics.histogram import RELATIVE_ERROR
from loadnb.rules.alert_engine import AlertEngine, AlertEvent
from loadnb.rules.alerts import default_rules
from tests.servers import Action, DelayServerProcess, Plan, RawHTTPServer


def generator_alerts(result: Result) -> list[str]:
    """Messages of the generator-health alerts that fired during the run."""
    return [e.message for e in result.alert_events if e.rule.startswith(("generator_",
                                                                         "dropped", "waiting"))]


def stall_plan(start_after: float, length: float = 1.0) -> tuple[Plan, list[float]]:
    """Every response is held until ``t0 + start_after + length`` while the stall is on (t0 is the
    first request), like a server pausing for a GC or a lock."""
    t0: list[float] = []

    def plan(_: int) -> Action:
        now = time.monotonic()
        if not t0:
            t0.append(now)
        begin = t0[0] + start_after
        if begin <= now < begin + length:
            return Action(delay=begin + length - now)
        return Action()

    return plan, t0


@pytest.mark.slow
async def test_open_model_stall_shows_in_response_and_service_time() -> None:
    """The stall is placed by the server's own clock (1 s after its first request), so the
    snapshots are read by their timestamps against it, not by a guessed elapsed time (a busy
    machine's slow start moves it): requests pile up in flight while it lasts, the first
    answers after it carry it, and the snapshots before it do not."""
    plan, t0 = stall_plan(1.0)
    wall_offset = time.time() - time.monotonic()
    with RawHTTPServer(plan) as server:
        result = await Run(make_spec(server.url, rate=200, duration=3, interval=0.25)).run()
    s = result.summary
    assert s["total_requests"] == server.received and s["failed_requests"] == 0
    # ~200 of ~600 requests arrived during the 1 s stall and waited on average 0.5 s.
    assert s["latency_ms"]["p90"] > 300 and s["latency_ms"]["max"] > 900
    assert s["service_ms"]["p90"] > 300
    begin, end = (t0[0] + wall_offset + 1.0, t0[0] + wall_offset + 2.0)
    snaps = result.snapshots
    seq = [(round(x.timestamp - begin, 2), x.active_users, round(x.p99_ms, 1)) for x in snaps]
    assert any(x.active_users > 50 for x in snaps if begin + 0.5 <= x.timestamp < end), seq
    released = [x for x in snaps if x.timestamp >= end and x.interval_requests]
    assert released and released[0].p99_ms > 250, seq  # the held answers, up to 1 s old
    calm = [x.p99_ms for x in snaps if x.timestamp < begin and x.interval_requests]
    assert calm and max(calm) < 500, seq  # not the stall: half of it would be a hang here


@pytest.mark.slow
async def test_closed_model_stall_is_hidden_without_correction_and_shown_with_it() -> None:
    outcomes = {}
    for expected in (None, 0.005):
        plan, _ = stall_plan(1.0)
        with RawHTTPServer(lambda i, plan=plan: Action(delay=0.004) if plan(i).delay == 0
                           else plan(i)) as server:
            spec = make_spec(server.url, users=4, duration=3, expected_interval=expected)
            result = await Run(spec).run()
        outcomes[expected] = result.summary
    raw, corrected = outcomes[None], outcomes[0.005]
    # Without correction only the 4 users' stalled requests carry the stall: p90 stays small.
    assert raw["latency_ms"]["p90"] < 50 and raw["latency_ms"]["max"] > 900
    # With correction the requests the users could not send during the stall are accounted for.
    assert corrected["latency_ms"]["p90"] > 200
    assert corrected["service_ms"]["p90"] < 50
    assert "coordinated omission" in corrected["latency_basis"]
    assert raw["latency_basis"] == "time from the send"


async def test_percentiles_agree_with_the_servers_own_clock() -> None:
    """The server (its own process) times each request from parsed to written; loadnb's numbers
    must bracket those: never less (within the histogram's error), at p50 and p99; and at p50
    more only by the loopback round trip, 4 ms or 15 % (response time may add the scheduling
    delay the generator reports as loop lag). The tail is bounded from below only: a busy
    machine's hiccups land there (a p99 response 85 ms over the server's with 32 ms of measured
    loop lag was seen with both cores busy), and they are the generator's, not a wrong clock."""
    with DelayServerProcess(seed=7, low=0.010, high=0.030) as server:
        result = await Run(make_spec(server.url, rate=100, duration=3)).run()
        held = np.array(server.stop())
    s = result.summary
    assert len(held) == s["completed_requests"] >= 290
    lag = s["generator"]["max_loop_lag_ms"]
    for key, q in (("p50", 50), ("p99", 99)):
        truth = float(np.percentile(held, q, method="inverted_cdf")) * 1e3
        service, response = s["service_ms"][key], s["latency_ms"][key]
        assert truth * (1 - RELATIVE_ERROR) <= service, (key, truth, service)
        assert service * (1 - RELATIVE_ERROR) <= response, (key, service, response)
        if key == "p50":
            bound = truth + max(4, 0.15 * truth)
            assert service <= bound, (key, truth, service)
            assert response <= bound + lag + 2, (key, response, lag)


async def test_healthy_run_raises_no_generator_warning() -> None:
    with RawHTTPServer() as server:
        result = await Run(make_spec(server.url, rate=50, duration=1.5, interval=0.25)).run()
    df = result.df[result.df.phase != "done"]
    lag, cpu = df.loop_lag_ms.tolist(), df.cpu_percent.tolist()
    justified = (any(a > 50 and b > 50 for a, b in zip(lag, lag[1:], strict=False))
                 or any(v > 250 for v in lag)
                 or any(a > 90 and b > 90 for a, b in zip(cpu, cpu[1:], strict=False)))
    # No false alarm: a warning only when the measured series justify it, and on a quiet
    # machine a 50 req/s run is healthy (another busy process on a loaded machine can make the
    # generator genuinely late; then the warning is right).
    assert bool(generator_alerts(result)) == justified, (result.alert_events, lag, cpu)
    if os.getloadavg()[0] < 1.5:
        assert generator_alerts(result) == [], (lag, cpu)


async def test_blocked_event_loop_is_reported_as_a_generator_bottleneck() -> None:
    async def blocker() -> None:
        for _ in range(8):
            time.sleep(0.12)  # noqa: ASYNC251 - a blocking call in the loop, like a heavy cell
            await asyncio.sleep(0.05)

    with RawHTTPServer() as server:
        run = Run(make_spec(server.url, rate=50, duration=1.6, interval=0.25))
        run.start()
        await blocker()
        result = await run.wait()
    assert any("event loop ran up to" in w for w in generator_alerts(result)), result.alert_events
    assert result.df.loop_lag_ms.max() > 100


async def test_cpu_hog_in_the_same_process_is_reported() -> None:
    stop = threading.Event()

    def hog() -> None:
        while not stop.is_set():
            sum(i * i for i in range(2000))

    thread = threading.Thread(target=hog, daemon=True)
    with RawHTTPServer() as server:
        thread.start()
        try:
            result = await Run(make_spec(server.url, rate=20, duration=1.6, interval=0.25)).run()
        finally:
            stop.set()
            thread.join()
    cpu = result.df[result.df.phase == "running"].cpu_percent.tolist()
    saturated = any(a > 90 and b > 90 for a, b in zip(cpu, cpu[1:], strict=False))
    # The warning follows the measured CPU: on a quiet machine the hog saturates the process;
    # on a machine busy with other work it may not get the core, and then no warning is right.
    fired = generator_alerts(result)
    assert any("CPU core" in w for w in fired) == saturated, (cpu, fired)
    if saturated:
        assert "Generator bottleneck" in " ".join(a["message"] for a in result.summary["alerts"])
    else:
        assert os.getloadavg()[0] > 1.5, f"the hog never saturated a quiet machine: {cpu}"


def test_health_rules_on_a_scripted_sequence() -> None:
    events: list[AlertEvent] = []
    engine = AlertEngine(default_rules(pool_size=4, max_in_flight=10), events)

    def check(**kw: float) -> dict[str, str]:
        base = dict(timestamp=0, elapsed_time=0, progress_percent=0, active_users=0,
                    completed_requests=0, failed_requests=0, success_rate=100, current_rps=0,
                    peak_rps=0, estimated_completion=0, cpu_percent=10, loop_lag_ms=1)
        engine(Snapshot(**{**base, **kw}))  # type: ignore[arg-type]
        return {e.rule: e.message for e in events}

    check(cpu_percent=95)
    assert check(cpu_percent=50, loop_lag_ms=60) == {}  # one busy interval is no bottleneck
    assert set(check(cpu_percent=96, loop_lag_ms=70)) == {"generator_lag"}
    fired = check(cpu_percent=97, loop_lag_ms=2, dropped_arrivals=3, interval_dropped=3,
                  waiting_for_connection=2)
    assert set(fired) == {"generator_lag", "generator_cpu", "dropped_arrivals"}
    assert "97%" in fired["generator_cpu"]
    assert "pool of 4" in check(waiting_for_connection=1)["waiting_for_connection"]
    before = len(events)
    check(loop_lag_ms=400, phase="done")  # the final snapshot is not judged by these rules
    assert len(events) == before


async def test_dropped_arrivals_and_connection_waits_are_reported() -> None:
    with RawHTTPServer(lambda i: Action(delay=0.3)) as server:
        result = await Run(make_spec(server.url, rate=100, duration=1.2, max_in_flight=5,
                                     graceful_stop=1)).run()
    s = result.summary
    assert s["dropped_arrivals"] > 50
    assert any("Arrivals dropped" in a["message"] for a in s["alerts"])
    assert s["total_requests"] == server.received
    with RawHTTPServer(lambda i: Action(delay=0.05)) as server:
        result = await Run(make_spec(server.url, users=8, connections=2, duration=1.2,
                                     interval=0.25)).run()
    assert result.df.waiting_for_connection.max() >= 4
    assert any("waiting for a free connection" in w for w in generator_alerts(result))
