"""The monitor on its own: scripted sources, a fake clock, ticks by hand (no engine, no loop).

Each tick closes an interval: the sources' payloads become one snapshot, added to the run record,
then handed to the sinks in order.
"""

from __future__ import annotations

import math

import pytest

from loadnb.metrics.histogram import Histogram
from loadnb.metrics.snapshot import Snapshot
from loadnb.record.accounting import check_accounting
from loadnb.record.record import RunRecord
from loadnb.record.update import Update
from loadnb.runner.monitor import Monitor, Sink
from loadnb.spec.config import make_spec
from tests.doubles import FakeClock, FakeSource, interval, payload

QS = (50, 90, 95, 99, 100)


def record() -> RunRecord:
    return RunRecord("unit", make_spec("http://127.0.0.1:9/", users=2, duration=10))


def monitor(*sources: FakeSource, sinks: list[Sink] | None = None, interval_s: float = 0.5,
            clock: FakeClock | None = None) -> tuple[Monitor, FakeClock]:
    """A monitor started at t = 100 s (fake), its wall clock at 1e9 and its CPU clock frozen."""
    clock = clock or FakeClock(100.0)
    m = Monitor(list(sources), record(), [] if sinks is None else sinks, interval=interval_s,
                clock=clock, wall=lambda: 1e9 + clock.now, cpu=lambda: 0.0)
    m.begin()
    return m, clock


def step(m: Monitor, clock: FakeClock, seconds: float, **tick: bool) -> Snapshot:
    clock.advance(seconds)
    return m.tick(**tick)


def test_snapshot_counts_are_cumulative_and_rates_per_interval() -> None:
    source = FakeSource(
        payload(interval(completed=8, failed=2, latencies=[0.010] * 8 + [0.050] * 2,
                         errors={"HTTP 500": 2}, statuses={200: 8, 500: 2}, nbytes=80),
                active_users=5, target_users=5, in_flight=3, progress=25.0, eta=3.0),
        payload(interval(completed=4, cancelled=1, latencies=[0.020] * 4, nbytes=40),
                active_users=5, target_users=5, progress=50.0))
    m, clock = monitor(source)
    first = step(m, clock, 0.5)
    assert (first.completed_requests, first.failed_requests, first.cancelled_requests) == (8, 2, 0)
    assert (first.interval_requests, first.interval_completed, first.interval_failed) == (10, 8, 2)
    assert first.current_rps == pytest.approx(10 / 0.5) and first.peak_rps == first.current_rps
    assert first.success_rate == pytest.approx(80.0)
    assert first.elapsed_time == pytest.approx(0.5)
    assert first.timestamp == pytest.approx(1e9 + 100.5)
    assert (first.active_users, first.target_users, first.in_flight) == (5, 5, 3)
    assert (first.progress_percent, first.estimated_completion) == (25.0, 3.0)
    assert first.interval_errors == {"HTTP 500": 2} and first.bytes_received == 80
    assert first.max_ms == pytest.approx(50.0) and first.p50_ms == pytest.approx(10.0, rel=0.01)
    second = step(m, clock, 0.5)
    assert (second.completed_requests, second.failed_requests, second.cancelled_requests) == (
        12, 2, 1)
    assert (second.interval_requests, second.interval_completed, second.interval_failed) == (
        5, 4, 0)
    assert second.current_rps == pytest.approx(4 / 0.5)  # answered ones: cancelled do not count
    assert second.peak_rps == pytest.approx(20.0)  # the peak stays
    assert second.success_rate == pytest.approx(100 * 12 / 14) and second.bytes_received == 120
    assert second.interval_errors == {} and second.max_ms == pytest.approx(20.0)
    assert source.finals == [False, False]


def test_current_rps_divides_by_the_real_length_of_the_interval() -> None:
    source = FakeSource(payload(interval(completed=30, latencies=[0.001] * 30)))
    m, clock = monitor(source)
    late = step(m, clock, 0.75)  # a tick that came late: its interval was longer
    assert late.current_rps == pytest.approx(30 / 0.75) and late.elapsed_time == pytest.approx(0.75)


def test_peak_rps_counts_only_intervals_at_least_half_long() -> None:
    source = FakeSource(
        payload(interval(completed=10, latencies=[0.001] * 10)),  # 0.5 s: 20 req/s
        payload(interval(completed=10, latencies=[0.001] * 10)),  # 0.1 s: 100 req/s, too short
        payload(interval(completed=15, latencies=[0.001] * 15)),  # 0.25 s: 60 req/s, half long
    )
    m, clock = monitor(source)
    assert step(m, clock, 0.5).peak_rps == pytest.approx(20.0)
    short = step(m, clock, 0.1)
    # not the short interval's 100/s spike; the average so far (20 in 0.6 s), which it lifted
    assert short.current_rps == pytest.approx(100.0) and short.peak_rps == pytest.approx(20 / 0.6)
    assert step(m, clock, 0.25).peak_rps == pytest.approx(60.0)
    assert m.record.peak_rps == pytest.approx(60.0)


def test_peak_rps_is_never_below_the_average_when_answers_come_in_a_short_final_interval(
) -> None:
    source = FakeSource(
        payload(interval(started=3), in_flight=3),                 # 0.5 s: nothing answered
        payload(interval(started=0), in_flight=3),                 # 0.5 s: nothing answered
        payload(interval(completed=3, started=0, latencies=[1.0] * 3)),  # 0.05 s, final: all 3
    )
    m, clock = monitor(source)
    assert step(m, clock, 0.5).peak_rps == 0.0
    assert step(m, clock, 0.5).peak_rps == 0.0
    final = step(m, clock, 0.05, final=True)
    assert final.current_rps == pytest.approx(60.0)  # 3 in 0.05 s: not a peak
    assert final.peak_rps == pytest.approx(3 / 1.05)  # the run's average: 3 in 1.05 s
    assert m.record.peak_rps == final.peak_rps


def test_success_rate_is_nan_until_the_first_response() -> None:
    source = FakeSource(
        payload(interval(started=3), in_flight=3),  # started, nothing answered yet
        payload(interval(cancelled=1, started=0)),  # cancelled requests are no responses
        payload(interval(completed=1, failed=1, latencies=[0.2, 0.3], errors={"HTTP 503": 1})),
    )
    m, clock = monitor(source)
    empty = step(m, clock, 0.5)
    assert math.isnan(empty.success_rate) and empty.current_rps == 0.0
    assert math.isnan(empty.p50_ms) and math.isnan(empty.mean_ms)  # no response: no latency
    assert math.isnan(step(m, clock, 0.5).success_rate)
    assert step(m, clock, 0.5).success_rate == 50.0


def test_interval_dropped_is_the_change_of_the_cumulative_count() -> None:
    source = FakeSource(payload(dropped=3), payload(dropped=7), payload(dropped=7),
                        payload(dropped=12))
    m, clock = monitor(source)
    snaps = [step(m, clock, 0.5) for _ in range(4)]
    assert [s.dropped_arrivals for s in snaps] == [3, 7, 7, 12]
    assert [s.interval_dropped for s in snaps] == [3, 4, 0, 5]


def test_events_land_in_the_event_column_and_the_record() -> None:
    source = FakeSource(payload(), payload(events=[(0.7, "set to 5 users")]),
                        payload(events=[(1.1, "set to 6 users"), (1.3, "set to 2 users")]),
                        payload())
    m, clock = monitor(source)
    snaps = [step(m, clock, 0.5) for _ in range(4)]
    assert [s.event for s in snaps] == ["", "set to 5 users", "set to 6 users; set to 2 users", ""]
    assert m.record.events == [(0.7, "set to 5 users"), (1.1, "set to 6 users"),
                               (1.3, "set to 2 users")]


def test_the_final_tick_is_phase_done_and_tells_the_sources() -> None:
    source = FakeSource(payload(interval(completed=2, started=4, latencies=[0.01, 0.02]),
                                phase="running", in_flight=2),
                        payload(interval(cancelled=2, started=0), phase="ending"))
    m, clock = monitor(source)
    assert step(m, clock, 0.5).phase == "running"
    final = step(m, clock, 0.2, final=True)
    assert final.phase == "done" and final.cancelled_requests == 2
    assert source.finals == [False, True]
    assert [s.phase for s in m.record.snapshots] == ["running", "done"]
    check_accounting(m.record)  # 4 started = 2 completed + 2 cancelled, intervals sum up


def test_loop_lag_and_cpu_are_measured_by_the_monitor_and_the_worst_is_kept() -> None:
    clock, cpu = FakeClock(100.0), FakeClock(5.0)
    source = FakeSource(payload(), payload(loop_lag_ms=30.0, cpu_percent=10.0), payload())
    m = Monitor([source], record(), [], interval=0.5, clock=clock, cpu=cpu)
    m.begin()
    clock.advance(0.5)
    cpu.advance(0.25)
    first = m.tick(lag=0.012)
    assert first.loop_lag_ms == pytest.approx(12.0) and first.cpu_percent == pytest.approx(50.0)
    clock.advance(0.5)
    second = m.tick(lag=0.002)  # the source's own lag and CPU are worse
    assert second.loop_lag_ms == 30.0 and second.cpu_percent == 10.0
    clock.advance(0.005)
    third = m.tick()  # no lag measured; an interval too short for a CPU figure
    assert math.isnan(third.loop_lag_ms) and math.isnan(third.cpu_percent)


def test_two_sources_merge_counts_statuses_and_exact_percentiles() -> None:
    a_lat = [0.001 * i for i in range(1, 41)]
    b_lat = [0.05, 0.07, 0.2, 0.9, 0.011, 0.012]
    a = FakeSource(payload(interval(completed=40, latencies=a_lat, nbytes=400),
                           active_users=3, target_users=3, in_flight=1, dropped=1, progress=40.0,
                           eta=6.0, phase="running", events=[(0.1, "a")]))
    b = FakeSource(payload(interval(completed=5, failed=1, latencies=b_lat, nbytes=50,
                                    errors={"HTTP 500": 1}),
                           interval("login", failed=2, errors={"timeout": 2}),
                           active_users=2, target_users=2, in_flight=4, dropped=2, progress=60.0,
                           eta=4.0, phase="ending", events=[(0.2, "b")]))
    m, clock = monitor(a, b)
    snap = step(m, clock, 0.5)
    assert (snap.completed_requests, snap.failed_requests) == (45, 3)
    assert (snap.active_users, snap.target_users, snap.in_flight) == (5, 5, 5)
    assert (snap.dropped_arrivals, snap.bytes_received) == (3, 450)
    assert snap.phase == "running"  # the least advanced source's
    assert snap.progress_percent == 50.0 and snap.estimated_completion == 6.0
    assert snap.event == "a; b" and snap.interval_errors == {"HTTP 500": 1, "timeout": 2}
    union = Histogram.from_seconds(a_lat + b_lat)
    want = [v * 1e3 for v in union.percentiles(QS)]
    assert [snap.p50_ms, snap.p90_ms, snap.p95_ms, snap.p99_ms, snap.max_ms] == want
    assert snap.mean_ms == pytest.approx(union.mean * 1e3)
    assert snap.service_p99_ms == snap.p99_ms  # the builder's service times are the latencies
    totals = m.record.totals
    assert set(totals) == {"GET /", "login"}
    assert (totals["GET /"].completed, totals["GET /"].failed) == (45, 1)
    assert totals["GET /"].latency.total == len(a_lat) + len(b_lat)
    assert (totals["login"].failed, totals["login"].errors) == (2, {"timeout": 2})


def test_the_record_is_updated_before_the_sinks_are_called() -> None:
    seen: list[tuple[bool, int, int, int]] = []
    m: Monitor | None = None

    def sink(update: Update) -> None:
        assert m is not None
        rec = m.record
        seen.append((rec.snapshots[-1] is update.snapshot, len(rec.snapshots),
                     rec.overall.completed, len(rec.names_timeline)))

    source = FakeSource(payload(interval(completed=3, latencies=[0.01] * 3)),
                        payload(interval(completed=2, latencies=[0.01] * 2)))
    m, clock = monitor(source, sinks=[sink])
    step(m, clock, 0.5)
    step(m, clock, 0.5)
    assert seen == [(True, 1, 3, 1), (True, 2, 5, 2)]


def test_a_sink_that_raises_is_removed_with_a_warning_and_the_others_still_run() -> None:
    calls: list[str] = []

    def first(update: Update) -> None:
        calls.append("first")

    def broken(update: Update) -> None:
        calls.append("broken")
        raise RuntimeError("face crashed")

    def last(update: Update) -> None:
        calls.append("last")

    sinks: list[Sink] = [first, broken, last]
    m, clock = monitor(FakeSource(), sinks=sinks)
    step(m, clock, 0.5)
    assert calls == ["first", "broken", "last"]
    assert sinks == [first, last]  # removed from the caller's own list
    assert len(m.record.warnings) == 1
    assert "failed and was removed" in m.record.warnings[0]
    assert "face crashed" in m.record.warnings[0]
    step(m, clock, 0.5)
    assert calls == ["first", "broken", "last", "first", "last"]
    assert len(m.record.snapshots) == 2 and len(m.record.warnings) == 1


def test_sinks_added_later_get_the_later_snapshots_only() -> None:
    early: list[Snapshot] = []
    late: list[Snapshot] = []
    sinks: list[Sink] = [lambda u: early.append(u.snapshot)]
    m, clock = monitor(FakeSource(), sinks=sinks)
    step(m, clock, 0.5)
    sinks.append(lambda u: late.append(u.snapshot))
    step(m, clock, 0.5)
    step(m, clock, 0.5, final=True)
    assert early == m.record.snapshots and len(early) == 3
    assert late == m.record.snapshots[1:]


def test_elapsed_time_counts_from_begin() -> None:
    clock = FakeClock(50.0)
    m, _ = monitor(FakeSource(), clock=clock)
    assert m.t0 == 50.0
    assert [step(m, clock, dt).elapsed_time for dt in (0.5, 0.5, 0.3)] == pytest.approx(
        [0.5, 1.0, 1.3])
    assert m.record.duration_s == pytest.approx(1.3)
