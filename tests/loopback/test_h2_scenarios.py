"""Scenarios over HTTP/2 against a real nginx (tests/h2nginx.py): a GET with a check and a POST
with a JSON body per iteration, over TLS (h2 by ALPN) and h2c; the access log's ``HTTP/2.0``
lines equal loadnb's completed requests, per name."""

from __future__ import annotations

from typing import Any

import pytest

from loadnb import Run, make_spec
from loadnb.engine.vuser import VirtualUser
from loadnb.record.accounting import check_accounting
from tests.h2nginx import H2Nginx

FALLBACK = ("HTTP/2 was asked for, but the server did not offer h2 by ALPN (it chose "
            "http/1.1): the run speaks HTTP/1.1")


async def shop(user: VirtualUser) -> None:
    await user.get("/", name="home", check=("says OK", lambda r: r.text == "OK"))
    await user.post("/?order=1", name="order", json={"item": user.index, "n": 2})


@pytest.mark.parametrize(("server", "load"), [("h2", {"users": 6}),
                                              ("h2c", {"rate": 100, "duration": 5})])
async def test_scenario_requests_counted_per_name_against_the_access_log(
        ng: H2Nginx, server: str, load: dict[str, Any]) -> None:
    before = len(ng.lines(server))
    spec = make_spec(ng.url(server), scenario=shop, http2=True, streams=4, requests=60,
                     cacert=ng.file("ca.pem"), history="off", interval=0.2, **load)
    result = await Run(spec).run()
    check_accounting(result)
    lines = ng.lines(server)[before:]
    totals = result.record.totals
    assert result.summary["protocol"] == server and not result.warnings
    assert {line.protocol for line in lines} == {"HTTP/2.0"}
    assert totals["home"].completed == sum(line.method == "GET" and line.uri == "/"
                                           for line in lines)
    assert totals["order"].completed == sum(line.method == "POST" and line.uri == "/?order=1"
                                            for line in lines)
    assert result.summary["completed_requests"] == len(lines) == 60
    assert result.summary["checks"]["says OK"]["passes"] == totals["home"].completed
    conns = result.summary["connections"]  # connect and TLS times of the HTTP/2 connections
    assert conns["opened"] == len({line.connection for line in lines})
    assert (conns["tls_ms"]["p50"] is not None) == (server == "h2")


async def test_a_tls_server_without_h2_scenario_falls_back_and_says_so(ng: H2Nginx) -> None:
    spec = make_spec(ng.url("h1tls"), scenario=shop, http2=True, users=2, requests=10,
                     cacert=ng.file("ca.pem"), history="off")
    result = await Run(spec).run()
    check_accounting(result)
    assert result.summary["protocol"] == "http/1.1" and FALLBACK in result.warnings
    assert result.summary["completed_requests"] == 10
