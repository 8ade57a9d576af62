"""loadnb against a misbehaving server: connection handling, outages, refusals, mixed faults."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults import OK, Fault, FaultServer, Plan, always, every, refused_port
from tests.transport.fault_helpers import Outcome, both, check_all, exact, load, no_leaks

pytestmark = pytest.mark.usefixtures("_no_stray_threads")


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
    assert out.s["completed_requests"] == server.completed[200] == out.received > 4  # >1 per user
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
    assert out.s["completed_requests"] == out.received > 4  # more than one per user
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
    assert out.s["completed_requests"] == server.completed[200] == out.received > 4  # >1 per user
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
    assert out.s["completed_requests"] == server.completed[200] == out.received > 4  # >1 per user
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
