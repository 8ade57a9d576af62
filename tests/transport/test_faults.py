"""loadnb against a misbehaving server (tests/faults.py), all on 127.0.0.1.

For every fault: the run ends on time and in state "done"; every request the server parsed is
counted exactly once by loadnb (or, where the client can send without the server parsing, within a
tolerance stated in the test); the failure has its stable kind in ``summary["errors"]``,
``result.errors`` and ``result.errors_timeline``; started = completed + failed + cancelled per name
and overall, and the interval rows add up to the totals; no task and no socket outlives the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from loadnb import Run, make_spec
from loadnb.results.result import Result
from tests.faults import OK, Fault, FaultServer, Plan, always, every, refused_port

#: Slack on the end of a run (the monitor's final tick, closing the pool, a busy machine's
#: scheduling): generous, it only catches a hang or a wait for a timeout longer than the grace.
MARGIN = 2.0
#: File descriptors a run may leave behind (none expected; room for a lazily made selector).
FD_SLACK = 2
NAME = "GET /"


# -- helpers -----------------------------------------------------------------------------------
def _fds() -> dict[int, str]:
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            out[int(fd)] = os.readlink(f"/proc/self/fd/{fd}")
    return out


@contextlib.asynccontextmanager
async def no_leaks() -> AsyncIterator[None]:
    """Around a server and a run: afterwards only the test's task runs, and no fd is left open."""
    before = _fds()
    me = asyncio.current_task()
    yield
    for _ in range(3):  # transports close their sockets on the next loop iterations
        await asyncio.sleep(0)
    others = [t for t in asyncio.all_tasks() if t is not me]
    assert not others, f"tasks left running: {others}"
    after = _fds()
    new = {fd: target for fd, target in after.items() if before.get(fd) != target}
    assert len(after) <= len(before) + FD_SLACK, f"file descriptors left open: {new}"


@dataclass
class Outcome:
    run: Run
    result: Result
    wall: float  # seconds from start() to the result
    t0: float  # perf_counter at start (≈ the engine's t0)
    received: int  # the server's count once it stopped moving

    @property
    def s(self) -> dict[str, Any]:
        return self.result.summary


async def load(url: str, server: FaultServer | None, **params: Any) -> Outcome:
    """One run of loadnb against ``url``, timed; then the server's settled request count."""
    params.setdefault("interval", 0.25)
    run = Run(make_spec(url, **params))
    t0 = time.perf_counter()
    result = await run.run()
    wall = time.perf_counter() - t0
    received = 0 if server is None else await server.settle()
    assert result.transport == params.get("transport", result.transport)  # the one asked for
    return Outcome(run, result, wall, t0, received)


def check_on_time(out: Outcome) -> None:
    """Ends at the duration plus at most the grace (min(timeout, graceful_stop)), state done."""
    spec = out.run.spec
    assert spec.duration is not None
    grace = min(spec.timeout, spec.graceful_stop)
    assert spec.duration - 0.05 <= out.wall <= spec.duration + grace + MARGIN, out.wall
    assert out.wall <= spec.duration + spec.timeout + MARGIN
    assert out.result.state == "done" and out.run.state == "done"
    assert out.result.error is None


def check_accounting(out: Outcome) -> None:
    """started = completed + failed + cancelled, per name and overall; intervals add up."""
    result = out.result
    o = result.overall
    total = o.completed + o.failed + o.cancelled
    assert out.s["total_requests"] == total
    assert sum(t.started for t in result.totals.values()) == total
    for t in result.totals.values():
        assert t.started == t.completed + t.failed + t.cancelled
        assert sum(t.errors.values()) == t.failed  # every failure has exactly one kind
    df = result.df
    assert df["interval_requests"].sum() == total
    assert df["interval_completed"].sum() == o.completed
    assert df["interval_failed"].sum() == o.failed
    last = result.snapshots[-1]
    assert (last.completed_requests, last.failed_requests, last.cancelled_requests) == (
        o.completed, o.failed, o.cancelled)
    assert last.phase == "done"


def check_errors(out: Outcome, expected: dict[str, int]) -> None:
    """The failures, by kind, in the summary, the errors frame and the errors timeline."""
    result = out.result
    expected = {k: n for k, n in expected.items() if n}
    assert out.s["errors"] == expected
    errors = result.errors
    assert list(errors.columns) == ["name", "kind", "count", "sample"]
    assert set(errors.name) <= {NAME}
    assert dict(zip(errors.kind, errors["count"], strict=True)) == expected
    for kind, sample in zip(errors.kind, errors["sample"], strict=True):
        assert isinstance(sample, str) and len(sample) <= 300
        if not kind.startswith("HTTP "):  # a status has no message; every other kind has one
            assert sample, kind
    tl = result.errors_timeline
    assert list(tl.columns) == ["elapsed_time", "kind", "count"]
    assert tl.groupby("kind")["count"].sum().to_dict() == expected
    assert (tl["count"] > 0).all()
    assert tl["elapsed_time"].is_monotonic_increasing
    assert tl["elapsed_time"].between(0, out.wall + 0.1).all()


def check_all(out: Outcome, expected_errors: dict[str, int]) -> None:
    check_on_time(out)
    check_accounting(out)
    check_errors(out, expected_errors)


def exact(out: Outcome) -> None:
    """Each request the server parsed is counted exactly once, and nothing else is counted."""
    assert out.received == out.s["total_requests"], (out.received, out.s)


# -- transports ----------------------------------------------------------------------------------
#: Every fault runs on both transports (the fast one is what "auto" picks for target-URL tests).
TRANSPORTS = ("aiohttp", "fast")
both = pytest.mark.parametrize("transport", TRANSPORTS)


# -- resets ------------------------------------------------------------------------------------
@both
async def test_reset_before_response_keepalive_closed_model(transport: str) -> None:
    """RST instead of a response on reused keep-alive connections: no hidden retry."""
    async with no_leaks():
        with FaultServer(every(3, Fault(Fault.RESET))) as server:
            out = await load(server.url, server, transport=transport, users=4, duration=0.8,
                             timeout=0.5, graceful_stop=0.5)
    check_all(out, {"connection reset": server.faults["reset"]})
    exact(out)
    assert out.s["completed_requests"] == server.completed[200] > 50
    assert server.connections < out.received  # connections were reused
    assert out.s["cancelled_requests"] == 0


@both
async def test_reset_before_response_no_keepalive_open_model(transport: str) -> None:
    async with no_leaks():
        with FaultServer(always(Fault(Fault.RESET))) as server:
            out = await load(server.url, server, transport=transport, rate=150, duration=0.6,
                             timeout=0.5, graceful_stop=0.5, keepalive=False)
    check_all(out, {"connection reset": out.received})
    exact(out)
    assert server.faults["reset"] == out.received
    assert abs(out.received - 90) <= 3
    assert server.connections == out.received  # one connection per request


@both
async def test_reset_mid_response_is_a_connection_reset(transport: str) -> None:
    """Head and half the body, then RST. A reset is a reset whether or not the head got through
    first (curl: 'Connection reset by peer', vs 'transfer closed with N bytes remaining' for a
    clean short close); else one server behaviour gets two kinds depending on timing."""
    body = b"x" * 1000
    async with no_leaks():
        with FaultServer(every(2, Fault(Fault.RESET_MID, body=body), Fault(body=body))) as server:
            out = await load(server.url, server, transport=transport, users=3, duration=0.6,
                             timeout=0.5, graceful_stop=0.5)
    exact(out)
    check_on_time(out)
    check_accounting(out)
    assert out.s["completed_requests"] == server.completed[200] > 10
    check_errors(out, {"connection reset": server.faults["reset mid-response"]})


@both
async def test_reset_mid_response_is_counted_once(transport: str) -> None:
    """Whatever its kind, a mid-response reset is one failure per parsed request."""
    body = b"x" * 1000
    async with no_leaks():
        with FaultServer(always(Fault(Fault.RESET_MID, body=body))) as server:
            out = await load(server.url, server, transport=transport, rate=60, duration=0.6,
                             timeout=0.5, graceful_stop=0.5)
    check_on_time(out)
    check_accounting(out)
    exact(out)
    assert out.s["failed_requests"] == server.faults["reset mid-response"] == out.received
    assert set(out.s["errors"]) <= {"connection reset", "incomplete body"}


# -- malformed responses -----------------------------------------------------------------------
@both
async def test_garbage_is_an_invalid_http_response_open_model(transport: str) -> None:
    async with no_leaks():
        with FaultServer(every(2, Fault(Fault.GARBAGE))) as server:
            out = await load(server.url, server, transport=transport, rate=100, duration=0.6,
                             timeout=0.5, graceful_stop=0.5)
    check_all(out, {"invalid HTTP response": server.faults["garbage"]})
    exact(out)
    assert out.s["completed_requests"] == server.completed[200]
    assert abs(server.faults["garbage"] - 30) <= 2


@both
async def test_short_body_then_close_is_an_incomplete_body_no_keepalive(transport: str) -> None:
    body = b"y" * 1000
    plan = every(2, Fault(Fault.SHORT_BODY, body=body), Fault(body=body))
    async with no_leaks():
        with FaultServer(plan) as server:
            out = await load(server.url, server, transport=transport, users=4, duration=0.6,
                             timeout=0.5, graceful_stop=0.5, keepalive=False)
    check_all(out, {"incomplete body": server.faults["short body"]})
    exact(out)
    assert out.s["completed_requests"] == server.completed[200] > 10
    # bytes_received = body bytes: whole bodies, plus what arrived of the short ones (or not)
    whole = 1000 * out.s["completed_requests"]
    assert whole <= out.s["bytes_received"] <= whole + 500 * server.faults["short body"]


@both
async def test_huge_header_is_an_invalid_http_response(transport: str) -> None:
    """A 100 KB header line: an invalid response (aiohttp's limit is 8190 bytes a line), on
    every transport; the pool recovers."""
    async with no_leaks():
        with FaultServer(every(2, Fault(Fault.HUGE_HEADER, header_bytes=100_000))) as server:
            out = await load(server.url, server, transport=transport, users=3, duration=0.6,
                             timeout=0.5, graceful_stop=0.5)
    check_all(out, {"invalid HTTP response": server.faults["huge header"]})
    exact(out)
    # the server wrote the huge responses whole: they are in its 200s but not ours
    assert out.s["completed_requests"] == server.completed[200] - server.faults["huge header"]
    assert out.s["completed_requests"] > 10


@both
async def test_tls_to_a_plain_http_port_is_a_tls_error(transport: str) -> None:
    """https:// to a port that speaks plain HTTP: the handshake fails ('TLS error'). The server
    parses no HTTP request here; it counts the ClientHellos it answered with a plain 400."""
    async with no_leaks():
        with FaultServer() as server:
            url = server.url.replace("http://", "https://")
            out = await load(url, server, transport=transport, users=2, duration=0.5,
                             timeout=0.5, graceful_stop=0.5)
    check_all(out, {"TLS error": out.s["total_requests"]})
    assert out.received == 0 and server.not_http == out.s["total_requests"] > 5


# -- no answer, slow answers -------------------------------------------------------------------
@both
async def test_held_requests_time_out_closed_model(transport: str) -> None:
    async with no_leaks():
        with FaultServer(always(Fault(Fault.HOLD))) as server:
            out = await load(server.url, server, transport=transport, users=4, duration=0.8,
                             timeout=0.3, graceful_stop=1.0)
    check_all(out, {"timeout": out.s["failed_requests"]})
    exact(out)
    # each user times out at 0.3, 0.6 and 0.9 s; the last may be cut by the grace instead
    assert out.s["failed_requests"] + out.s["cancelled_requests"] == out.received == 12
    assert out.s["failed_requests"] >= 8
    assert out.s["latency_ms"]["p50"] is None  # timeouts have no latency


@both
async def test_held_requests_are_cancelled_after_the_grace_open_model(transport: str) -> None:
    """Timeout longer than the run: in-flight requests are cancelled at the end of the grace;
    the in-flight cap drops the arrivals beyond it."""
    async with no_leaks():
        with FaultServer(always(Fault(Fault.HOLD))) as server:
            out = await load(server.url, server, transport=transport, rate=20, duration=0.8,
                             timeout=5, graceful_stop=0.3, max_in_flight=6)
    check_all(out, {})
    exact(out)
    assert out.s["cancelled_requests"] == out.received == 6
    assert out.s["failed_requests"] == out.s["completed_requests"] == 0
    assert out.s["dropped_arrivals"] == 16 - 6
    assert out.wall <= 0.8 + 0.3 + MARGIN


@both
async def test_trickled_body_times_out(transport: str) -> None:
    """A body of 100 bytes at one byte per 20 ms (2 s) with a 0.3 s timeout: the timeout covers
    the body, not just the head."""
    fault = Fault(Fault.TRICKLE, body=b"z" * 100, trickle=0.02)
    async with no_leaks():
        with FaultServer(always(fault)) as server:
            out = await load(server.url, server, transport=transport, users=2, duration=0.7,
                             timeout=0.3, graceful_stop=0.5)
    check_all(out, {"timeout": out.s["failed_requests"]})
    exact(out)
    assert out.s["completed_requests"] == 0 and out.s["failed_requests"] >= 4


@both
async def test_trickled_body_within_the_timeout_is_timed_to_the_last_byte(transport: str) -> None:
    fault = Fault(Fault.TRICKLE, body=b"z" * 10, trickle=0.02)  # ≈ 0.2 s per response
    async with no_leaks():
        with FaultServer(always(fault)) as server:
            out = await load(server.url, server, transport=transport, rate=20, duration=0.6,
                             timeout=1.0, graceful_stop=1.0)
    check_all(out, {})
    exact(out)
    assert out.s["completed_requests"] == server.completed[200] == out.received == 12
    assert out.s["bytes_received"] == 10 * 12
    assert 180 <= out.s["latency_ms"]["p50"] <= 400
    assert 180 <= out.s["service_ms"]["p50"] <= 400


# -- connection handling -----------------------------------------------------------------------
@both
@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "no-keepalive"])
async def test_connection_close_on_every_response(transport: str, keepalive: bool) -> None:
    async with no_leaks():
        with FaultServer(always(Fault(close=True))) as server:
            out = await load(server.url, server, transport=transport, users=4, duration=0.6,
                             timeout=0.5, graceful_stop=0.5, keepalive=keepalive)
    check_all(out, {})
    exact(out)
    assert out.s["completed_requests"] == server.completed[200] == out.received > 50
    assert server.connections == out.received  # every request on its own connection


@both
async def test_no_keepalive_means_one_connection_per_request(transport: str) -> None:
    """keepalive=False against a server that ignores the client's 'Connection: close': the
    client must still not reuse the connection."""
    async with no_leaks():
        with FaultServer(honor_close=False) as server:
            out = await load(server.url, server, transport=transport, users=4, duration=0.6,
                             timeout=0.5, graceful_stop=0.5, keepalive=False)
    check_all(out, {})
    exact(out)
    assert out.s["completed_requests"] == out.received > 50
    assert server.connections == out.received


@both
async def test_silent_close_after_each_response_keepalive(transport: str) -> None:
    """The server closes each connection after answering, without ``Connection: close``: the
    client reuses the connection before the close arrives. Those requests reach no handler, so
    the client counts more than the server parsed — by exactly the resets; no retry hides them."""
    async with no_leaks():
        with FaultServer(always(Fault(Fault.SILENT_CLOSE))) as server:
            out = await load(server.url, server, transport=transport, users=4, duration=0.6,
                             timeout=0.5, graceful_stop=0.5)
    resets = out.s["errors"].get("connection reset", 0)
    check_all(out, {"connection reset": resets})
    assert out.s["completed_requests"] == server.completed[200] == out.received > 50
    assert out.s["total_requests"] - out.received == resets


@both
async def test_connection_closed_on_accept_is_a_reset(transport: str) -> None:
    """Every other connection is accepted and closed at once (a server at its connection limit;
    no keep-alive, so every request opens one). A request on such a connection never reaches a
    handler: it fails as 'connection reset', at once (not after the timeout); at most one
    request per dropped connection."""
    async with no_leaks():
        with FaultServer(drop_on_accept=lambda c: c % 2 == 0) as server:
            out = await load(server.url, server, transport=transport, users=4, duration=0.6,
                             timeout=0.5, graceful_stop=0.5, keepalive=False)
    resets = out.s["errors"].get("connection reset", 0)
    check_all(out, {"connection reset": resets})
    assert out.s["completed_requests"] == server.completed[200] == out.received > 50
    assert out.s["total_requests"] - out.received == resets <= server.dropped


# -- the server dies and comes back ------------------------------------------------------------
def _check_outage(out: Outcome, server: FaultServer) -> dict[str, int]:
    """Refused only while the server was down; served before and after; counts reconciled.

    Refused requests never reached the server. A request written to a connection the server
    dropped as it died may not have been parsed: it fails as 'connection reset'. So
    server.received = total - refused - u, with 0 <= u <= resets.
    """
    ((down, up),) = server.outages
    errors = out.s["errors"]
    refused, resets = errors.get("connection refused", 0), errors.get("connection reset", 0)
    check_all(out, {"connection refused": refused, "connection reset": resets})
    assert refused > 0 and set(errors) <= {"connection refused", "connection reset"}
    unparsed = out.s["total_requests"] - refused - out.received
    assert 0 <= unparsed <= resets, (unparsed, errors)
    assert out.s["completed_requests"] == server.completed[200] == server.answered
    tl = out.result.errors_timeline
    when = tl[tl.kind == "connection refused"]["elapsed_time"]
    interval = out.run.spec.interval
    assert when.between(down - out.t0 - 0.05, up - out.t0 + interval + 0.1).all(), (
        when, down - out.t0, up - out.t0)
    df = out.result.df
    assert df[df.elapsed_time < down - out.t0]["interval_completed"].sum() > 0
    assert df[df.elapsed_time > up - out.t0 + interval]["interval_completed"].sum() > 0
    return errors


@both
async def test_server_dies_and_comes_back_closed_model_keepalive(transport: str) -> None:
    async with no_leaks():
        with FaultServer() as server:
            server.outage(downtime=1.0, after=0.4)
            out = await load(server.url, server, transport=transport, users=4, duration=2.0,
                             timeout=0.5, graceful_stop=0.5)
    _check_outage(out, server)


@both
async def test_server_dies_and_comes_back_open_model_no_keepalive(transport: str) -> None:
    async with no_leaks():
        with FaultServer() as server:
            server.outage(downtime=1.0, after=0.4)
            out = await load(server.url, server, transport=transport, rate=200, duration=2.0,
                             timeout=0.5, graceful_stop=0.5, keepalive=False)
    errors = _check_outage(out, server)
    assert abs(out.s["total_requests"] - 400) <= 5
    assert 150 <= errors["connection refused"] <= 230  # ≈ 1 s of 200/s


# -- nothing listening -------------------------------------------------------------------------
@both
@pytest.mark.parametrize("model", [{"rate": 100}, {"users": 2}], ids=["open", "closed"])
async def test_refused_port(transport: str, model: dict[str, Any]) -> None:
    async with no_leaks():
        with refused_port() as url:
            out = await load(url, None, transport=transport, duration=0.5, timeout=0.5,
                             graceful_stop=0.5, **model)
    check_all(out, {"connection refused": out.s["total_requests"]})
    assert out.s["failed_requests"] == out.s["total_requests"] > 0
    assert out.s["success_rate"] == 0.0 and out.s["latency_ms"]["p50"] is None
    if "rate" in model:
        assert abs(out.s["total_requests"] - 50) <= 2


# -- everything at once ------------------------------------------------------------------------
def _cycle(*faults: Fault) -> Plan:
    return lambda n: faults[(n - 1) % len(faults)]


@both
async def test_mixed_faults_on_one_keepalive_pool_are_each_counted_once(transport: str) -> None:
    """Resets, garbage, short bodies and 503s interleaved with good answers on one pool: each
    failure kind equals what the server did, and the pool keeps serving."""
    body = b"m" * 200
    plan = _cycle(OK, Fault(Fault.RESET), OK, Fault(Fault.GARBAGE), OK,
                  Fault(Fault.SHORT_BODY, body=body), OK, Fault(status=503, body=b"busy"))
    async with no_leaks():
        with FaultServer(plan) as server:
            out = await load(server.url, server, transport=transport, users=6, duration=0.8,
                             timeout=0.5, graceful_stop=0.5)
    f = server.faults
    check_all(out, {"connection reset": f["reset"], "invalid HTTP response": f["garbage"],
                    "incomplete body": f["short body"], "HTTP 503": server.completed[503]})
    exact(out)
    assert out.s["completed_requests"] == server.completed[200] >= out.received // 2 - 6
    assert out.s["status_codes"] == {"200": server.completed[200], "503": server.completed[503]}


def test_plans_cycle_in_request_order() -> None:
    plan = _cycle(OK, Fault(Fault.RESET))
    kinds = [plan(n).kind for n in range(1, 5)]
    assert kinds == ["ok", "reset", "ok", "reset"]
    assert [every(3, Fault(Fault.HOLD))(n).kind for n in range(1, 4)] == ["ok", "ok", "hold"]


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    """Every FaultServer thread has ended by the end of its test."""
    yield
    assert not [t for t in threading.enumerate() if t.name == "fault-server"]
