"""loadnb against a misbehaving server (tests/faults.py), all on 127.0.0.1.

For every fault: the run ends on time and in state "done"; every request the server parsed is
counted exactly once by loadnb (or, where the client can send without the server parsing, within a
tolerance stated in the test); the failure has its stable kind in ``summary["errors"]``,
``result.errors`` and ``result.errors_timeline``; started = completed + failed + cancelled per name
and overall, and the interval rows add up to the totals; no task and no socket outlives the run.
"""

from __future__ import annotations

import pytest

from tests.faults import Fault, FaultServer, always, every
from tests.transport.fault_helpers import (
    MARGIN,
    both,
    check_accounting,
    check_all,
    check_errors,
    check_on_time,
    exact,
    load,
    no_leaks,
)

pytestmark = pytest.mark.usefixtures("_no_stray_threads")


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
    assert out.s["completed_requests"] == server.completed[200] > 8  # several rounds of 3
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
