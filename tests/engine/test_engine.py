"""The engine against real servers on loopback: accounting, end of run, stop, error kinds."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from typing import Any

import pandas  # noqa: F401 - imported up front: a first import inside a run would stall the loop
import pytest

from loadnb import Run, Snapshot, make_spec
from loadnb.metrics.snapshot import BRIEF_FIELDS
from tests.conftest import assert_accounting, until
from tests.servers import Action, RawHTTPServer, reset_every, status_every

TRANSPORTS = pytest.mark.parametrize("transport", ["fast", "aiohttp"])


@TRANSPORTS
async def test_closed_model_counts_match_the_server(transport: str) -> None:
    with RawHTTPServer(status_every(5)) as server:
        run = Run(make_spec(server.url, users=8, duration=1.5, interval=0.25,
                       transport=transport))
        result = await run.run()
    s = assert_accounting(run, server_count=server.received)
    assert s["completed_requests"] == server.responses[200]
    assert s["failed_requests"] == server.responses[500]
    assert s["errors"] == {"HTTP 500": server.responses[500]}
    assert s["status_codes"] == {"200": server.responses[200], "500": server.responses[500]}
    assert s["cancelled_requests"] == 0
    assert s["total_requests"] > 100 and result.transport == transport
    # it lasts its duration; no request needs the 5 s grace (the bound only catches a hang)
    assert 1.4 < s["duration_s"] < 1.5 + 5


@TRANSPORTS
async def test_open_model_counts_and_schedule(transport: str) -> None:
    with RawHTTPServer() as server:
        run = Run(make_spec(server.url, rate=200, duration=2, interval=0.25,
                       transport=transport))
        result = await run.run()
    assert_accounting(run, server_count=server.received)
    assert abs(server.received - 400) <= 8
    df = result.df
    assert df["target_rate"].dropna().eq(200).all()
    steady = df[(df.elapsed_time > 0.5) & (df.phase == "running")]
    # the schedule's rate, read as the median interval: one interval a busy machine stretched
    # (and the next that caught up) does not decide; the count above is exact
    assert 150 <= steady["current_rps"].median() <= 250, steady["current_rps"].tolist()


@pytest.mark.slow
async def test_open_model_rate_400_for_5s_delivers_2000() -> None:
    with RawHTTPServer() as server:
        result = await Run(make_spec(server.url, rate=400, duration=5)).run()
    assert abs(server.received - 2000) <= 40, server.received
    assert_accounting(result, server_count=server.received)


@TRANSPORTS
async def test_no_silent_retry_when_keepalive_connections_reset(transport: str) -> None:
    """aiohttp retries an idempotent request on a reused connection; loadnb must not hide it."""
    with RawHTTPServer(reset_every(7)) as server:
        run = Run(make_spec(server.url, users=4, requests=300,
                       transport=transport))
        await run.run()
    s = assert_accounting(run, server_count=server.received)
    assert s["total_requests"] == 300
    assert s["failed_requests"] == server.resets > 30
    assert s["errors"] == {"connection reset": server.resets}
    assert s["completed_requests"] == server.responses[200]


async def test_request_count_bound_and_progress() -> None:
    with RawHTTPServer(lambda i: Action(delay=0.002)) as server:
        snaps: list[Snapshot] = []
        run = Run(make_spec(server.url, users=5, requests=1000, interval=0.1))
        run.subscribe(snaps.append)
        await run.run()
    assert_accounting(run, server_count=server.received)
    assert server.received == 1000
    progress = [s.progress_percent for s in snaps]
    assert progress == sorted(progress) and progress[-1] == 100.0
    assert 0 < progress[0] < 100
    assert snaps[-1].estimated_completion == 0.0


@TRANSPORTS
async def test_graceful_stop_cancels_slow_requests_after_the_grace(transport: str) -> None:
    with RawHTTPServer(lambda i: Action(delay=5)) as server:
        run = Run(make_spec(server.url, users=3, duration=0.5, graceful_stop=0.5,
                       transport=transport))
        t0 = time.perf_counter()
        result = await run.run()
        took = time.perf_counter() - t0
    s = assert_accounting(result)
    # waited out the grace, then cancelled: not before it, and not after the server's 5 s
    assert 0.9 < took < 5, took
    assert s["cancelled_requests"] == 3 and s["failed_requests"] == 0
    assert s["completed_requests"] == 0 and server.received == 3


async def test_in_flight_requests_finish_within_the_grace() -> None:
    with RawHTTPServer(lambda i: Action(delay=0.3)) as server:
        run = Run(make_spec(server.url, users=2, duration=0.5, graceful_stop=2))
        result = await run.run()
    s = result.summary
    assert s["cancelled_requests"] == 0 and s["completed_requests"] == server.received
    assert 0.5 < s["duration_s"] < 0.5 + 2  # ended with its requests, before the grace's end


@TRANSPORTS
async def test_stop_cancels_at_once_and_delivers_the_final_snapshot(transport: str) -> None:
    with RawHTTPServer(lambda i: Action(delay=0.2 if i > 20 else 0)) as server:
        snaps: list[Snapshot] = []
        run = Run(make_spec(server.url, users=4, duration=30, interval=0.1,
                       transport=transport))
        run.subscribe(snaps.append)
        run.start()
        await until(lambda: server.received >= 24)  # requests 21-24: each user is in a slow one
        t0 = time.perf_counter()
        run.stop()
        result = await run.wait()
        took = time.perf_counter() - t0
    assert_accounting(result)
    # the four slow requests are cancelled, not awaited (the count); the bound only catches a
    # stop that waits out the 5 s grace
    assert took < 5, took
    assert result.state == "stopped" and run.state == "stopped"  # one vocabulary
    assert snaps[-1].phase == "done" and result.summary["cancelled_requests"] == 4
    assert server.received >= result.summary["completed_requests"]


@TRANSPORTS
async def test_timeouts_are_counted_and_classified(transport: str) -> None:
    with RawHTTPServer(lambda i: Action(delay=1.0)) as server:
        result = await Run(make_spec(server.url, users=2, duration=0.6, timeout=0.2,
                       transport=transport)).run()
    s = assert_accounting(result, server_count=server.received)
    assert s["errors"] == {"timeout": s["failed_requests"]} and s["failed_requests"] >= 4
    errors = result.errors
    assert list(errors.kind) == ["timeout"] and errors["count"].iloc[0] == s["failed_requests"]


@TRANSPORTS
async def test_refused_port_is_counted_and_the_run_ends_on_time(transport: str) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    t0 = time.perf_counter()
    result = await Run(make_spec(f"http://127.0.0.1:{port}/", users=2, duration=0.5,
                       transport=transport)).run()
    assert time.perf_counter() - t0 < 5  # well before the 10 s timeout: nothing waits for it
    s = result.summary
    assert s["failed_requests"] > 0 and s["errors"] == {"connection refused": s["failed_requests"]}
    assert s["success_rate"] == 0.0 and s["latency_ms"]["p50"] is None
    tl = result.errors_timeline
    assert set(tl.kind) == {"connection refused"} and tl["count"].sum() == s["failed_requests"]


async def test_dataframe_schema_and_one_row_per_interval() -> None:
    with RawHTTPServer() as server:
        run = Run(make_spec(server.url, users=2, duration=1.0, interval=0.2))
        run.start()
        await until(lambda: len(run.snapshots) >= 2)
        live = run.result.df
        result = await run.wait()
    assert 1 <= len(live) <= 3
    df = result.df
    assert list(df.columns[: len(BRIEF_FIELDS)]) == list(BRIEF_FIELDS)
    for col in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "service_p99_ms"):
        assert col in df.columns
    assert 2 <= len(df) <= 7
    assert df["elapsed_time"].is_monotonic_increasing
    # One row per interval on a fixed grid: a tick is never early, and one that came so late that
    # a grid point was skipped (a busy machine) reports the loop lag that made it late.
    running = df[df.phase == "running"].reset_index(drop=True)
    grid = (running.index + 1) * 0.2
    assert (running["elapsed_time"] >= grid - 0.01).all(), running["elapsed_time"].tolist()
    skipped = running[running["elapsed_time"].diff() > 0.4]
    assert (skipped["loop_lag_ms"] > 150).all(), skipped[["elapsed_time", "loop_lag_ms"]]
    assert df["completed_requests"].is_monotonic_increasing
    assert (df["peak_rps"] >= df["current_rps"].where(df.index < len(df) - 1, 0)).all()
    running = df[df.phase == "running"]
    assert running["active_users"].eq(2).all() and running["p50_ms"].gt(0).all()


async def test_success_rate_is_nan_until_the_first_response() -> None:
    with RawHTTPServer(lambda i: Action(delay=0.35)) as server:
        run = Run(make_spec(server.url, users=1, duration=0.6, interval=0.1))
        await run.run()
    first = run.snapshots[0]
    assert first.success_rate != first.success_rate  # NaN
    assert run.snapshots[-1].success_rate == 100.0


async def test_ramp_up_adds_users_over_time() -> None:
    with RawHTTPServer(lambda i: Action(delay=0.01)) as server:
        run = Run(make_spec(server.url, users=10, duration=1.2, ramp_up=1.0, interval=0.1))
        await run.run()
    active = [s.active_users for s in run.snapshots if s.phase == "running"]
    assert active[0] <= 3 and max(active) == 10
    assert active == sorted(active)


async def test_a_failing_subscriber_never_stops_the_run() -> None:
    def broken(_: Snapshot) -> None:
        raise RuntimeError("face crashed")

    with RawHTTPServer() as server:
        run = Run(make_spec(server.url, users=2, duration=0.5, interval=0.1))
        run.subscribe(broken)
        result = await run.run()
    assert result.state == "done" and result.summary["completed_requests"] > 0
    assert any("face crashed" in w for w in result.warnings)


async def test_summary_has_the_cli_keys_and_no_secrets() -> None:
    with RawHTTPServer() as server:
        url = server.url.replace("127.0.0.1", "user:pw-SECRET@127.0.0.1")
        result = await Run(make_spec(url, users=1, requests=5,
                                     headers={"Cookie": "session=SECRET"})).run()
        bearer = await Run(make_spec(server.url, users=1, requests=5,
                                     headers={"Authorization": "Bearer TOKEN-SECRET"})).run()
    assert "SECRET" not in repr(bearer.summary)
    s = result.summary
    for key in ("run_id", "url", "duration_s", "total_requests", "completed_requests",
                "failed_requests", "cancelled_requests", "success_rate", "avg_rps", "peak_rps",
                "latency_ms", "service_ms", "status_codes", "errors"):
        assert key in s
    assert set(s["latency_ms"]) == {"p50", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean"}
    assert "SECRET" not in repr(s)


async def test_start_outside_a_loop_and_twice_are_refused() -> None:
    run = Run(make_spec("http://127.0.0.1:9/", users=1, requests=1))
    with pytest.raises(RuntimeError, match="has not been started"):
        await run.wait()
    run.start()
    with pytest.raises(RuntimeError, match="starts once"):
        run.start()
    await run.wait()


async def test_windowed_stats_per_request_name_sum_to_the_totals() -> None:
    with RawHTTPServer(lambda i: Action(delay=0.005)) as server:
        run = Run(make_spec(server.url, users=3, duration=1.0, interval=0.2))
        result = await run.run()
    tl = result.stats_timeline
    assert set(tl.name) == {"GET /"} and len(tl) >= 4
    assert tl["requests"].sum() == result.summary["total_requests"]
    assert (tl["p50_ms"] >= 5).all() and (tl["p99_ms"] >= tl["p50_ms"]).all()
    stats = result.stats.set_index("name")
    assert stats.loc["GET /", "completed"] == tl["completed"].sum()


def test_accounting_check_catches_a_lost_request() -> None:
    from loadnb.record.accounting import AccountingError, check_accounting
    from loadnb.results.result import Result

    with RawHTTPServer() as server:
        result = asyncio.run(Run(make_spec(server.url, users=2, requests=20)).run())
    check_accounting(result)
    result.totals["GET /"].completed -= 1
    with pytest.raises(AccountingError, match="started 20 != completed 19"):
        check_accounting(result)
    result.totals["GET /"].completed += 2  # one response counted twice: cancelled -1 balances
    result.totals["GET /"].cancelled -= 1
    with pytest.raises(AccountingError, match="1 more requests ended than started"):
        check_accounting(result)
    assert isinstance(result, Result)


async def test_users_thinking_at_the_end_do_not_hold_the_run() -> None:
    with RawHTTPServer() as server:
        run = Run(make_spec(server.url, users=3, duration=0.5, think_time=10, graceful_stop=5))
        t0 = time.perf_counter()
        result = await run.run()
        took = time.perf_counter() - t0
    assert took < 4, took  # neither the 10 s think nor the 5 s grace was waited out
    assert result.summary["cancelled_requests"] == 0
    assert result.summary["completed_requests"] == server.received == 3


async def test_precise_sleeper_wakes_within_a_fraction_of_a_millisecond() -> None:
    """The pacer's short sleeps: the loop's own timers round to whole milliseconds."""
    import sys

    from loadnb.engine.timer import PreciseSleeper

    sleeper = PreciseSleeper(asyncio.get_running_loop())
    precise = sleeper.precise
    try:
        late = []
        for _ in range(60):
            t0 = time.perf_counter()
            await sleeper.sleep(0.0002)
            late.append(time.perf_counter() - t0 - 0.0002)
    finally:
        sleeper.close()
    assert min(late) >= 0
    if sys.platform.startswith("linux"):  # the lower quartile: a busy neighbour delays some
        quartile = sorted(late)[len(late) // 4]
        assert precise and quartile < 0.0006, quartile
    else:  # rounded up to 1 ms, never early, never spinning
        assert statistics.median(late) >= 0.0007


async def test_the_fast_closed_model_makes_no_future_per_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Users of a target-URL test on the fast transport chain their requests from the protocol's
    callbacks: a few futures per run (a chain per connection, sleeps), not one per request."""
    loop = asyncio.get_running_loop()
    created = 0
    make = loop.create_future

    def counting() -> asyncio.Future[Any]:
        nonlocal created
        created += 1
        return make()

    monkeypatch.setattr(loop, "create_future", counting)
    with RawHTTPServer() as server:
        run = Run(make_spec(server.url, users=4, requests=1500, interval=0.2))
        result = await run.run()
    assert_accounting(result)
    assert result.transport == "fast"
    assert result.summary["completed_requests"] == server.received == 1500
    assert 0 < created < 150, created


@TRANSPORTS
@pytest.mark.parametrize("expected", [None, 0.002])
async def test_lowering_the_users_live_retires_them_within_one_interval(
        transport: str, expected: float | None) -> None:
    with RawHTTPServer(lambda i: Action(delay=0.01)) as server:
        run = Run(make_spec(server.url, users=6, duration=30, interval=0.2, transport=transport,
                            expected_interval=expected))
        run.start()
        await until(lambda: len(run.snapshots) >= 3)
        changed = len(run.snapshots)
        run.set_users(2)
        # four whole intervals after the one of the change, however long a busy machine takes
        await until(lambda: len(run.snapshots) >= changed + 5, 30)
        run.stop()
        result = await run.wait()
    s = assert_accounting(result)  # stopped: a cancelled request may or may not have been sent
    assert s["completed_requests"] <= server.received <= s["total_requests"]
    snaps = result.snapshots
    marked = next(i for i, s in enumerate(snaps) if s.event)
    assert all(s.active_users == 6 for s in snaps[:marked])
    assert max(s.in_flight for s in snaps[:marked]) > 2  # (six users: six requests out)
    after = [s for s in snaps[marked + 1:] if s.phase == "running"]
    assert len(after) >= 3 and all(s.active_users == 2 for s in after)
    # the four retired users send nothing more: never more than two requests in flight at a
    # tick, where each of the six always had one out before
    assert all(s.in_flight <= 2 for s in after), [s.in_flight for s in after]
    if expected is not None:  # each 10 ms request stands for the 2 ms sends it held back
        assert result.overall.latency.total > 3 * result.overall.completed
