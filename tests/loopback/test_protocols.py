"""HTTP/2, TLS and connection controls through the public faces (``make_spec`` keywords, the
``loadnb run`` flags, ``summary``, ``df``) against a real nginx (tests/h2nginx.py): every count
compared with the access log's lines (``$server_protocol``, ``$connection``, ``$host``)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from loadnb import Run, make_spec
from loadnb.cli import command as cli
from loadnb.record.accounting import check_accounting
from loadnb.results.result import Result
from tests.h2nginx import SERVICE_HOST, H2Nginx, counts

FALLBACK = ("HTTP/2 was asked for, but the server did not offer h2 by ALPN (it chose "
            "http/1.1): the run speaks HTTP/1.1")


async def run(url: str, **params: Any) -> Result:
    result = await Run(make_spec(url, history="off", interval=0.2, **params)).run()
    check_accounting(result)
    return result


@pytest.mark.parametrize("server", ["h2", "h2c"])
async def test_http2_counted_exactly_with_protocol_and_connection_times(
        ng: H2Nginx, server: str) -> None:
    before = len(ng.lines(server))
    result = await run(ng.url(server), http2=True, streams=10, cacert=ng.file("ca.pem"),
                       users=25, requests=400)
    lines = ng.lines(server)[before:]
    s = result.summary
    assert counts(result) == (400, 0, {}) and len(lines) == 400
    assert {line.protocol for line in lines} == {"HTTP/2.0"}
    assert s["protocol"] == server and s["transport"] == "h2" and not s["warnings"]
    opened = len({line.connection for line in lines})
    assert opened == math.ceil(25 / 10) == s["connections"]["opened"]
    assert s["parameters"]["connections"] == 3  # ceil(users / streams)
    assert s["connections"]["connect_ms"]["p50"] is not None
    assert (s["connections"]["tls_ms"]["p50"] is not None) == (server == "h2")
    df = result.df
    assert df["interval_connections"].sum() == opened
    assert df["connect_p50_ms"].notna().any()
    assert df["tls_p95_ms"].notna().any() == (server == "h2")


async def test_open_model_over_h2_counted_exactly(ng: H2Nginx) -> None:
    before = len(ng.lines("h2"))
    result = await run(ng.url("h2"), http2=True, insecure=True, rate=100, duration=1.0)
    lines = ng.lines("h2")[before:]
    completed, failed, _ = counts(result)
    assert failed == 0 and completed == len(lines) > 20
    assert {line.protocol for line in lines} == {"HTTP/2.0"}


async def test_fall_back_to_http11_reported_in_warnings_and_protocol(ng: H2Nginx) -> None:
    before = len(ng.lines("h1tls"))
    result = await run(ng.url("h1tls"), http2=True, cacert=ng.file("ca.pem"), users=5,
                       requests=100)
    lines = ng.lines("h1tls")[before:]
    assert counts(result) == (100, 0, {}) and len(lines) == 100
    assert {line.protocol for line in lines} == {"HTTP/1.1"}
    assert result.summary["protocol"] == "http/1.1"
    assert FALLBACK in result.summary["warnings"]


@pytest.mark.parametrize("http2", [True, False])
async def test_client_certificate_accepted_with_cert_and_key_refused_without(
        ng: H2Nginx, http2: bool) -> None:
    ca, url = ng.file("ca.pem"), ng.url("mtls")
    result = await run(url, http2=http2, cacert=ca, cert=ng.file("client.pem"),
                       key=ng.file("client.key"), users=4, requests=40)
    assert counts(result) == (40, 0, {})
    # nginx completes the handshake and answers 400 ("No required SSL certificate was sent")
    result = await run(url, http2=http2, cacert=ca, users=4, requests=40)
    assert counts(result) == (0, 40, {"HTTP 400": 40})


@pytest.mark.parametrize("http2", [True, False])
async def test_insecure_against_cacert(ng: H2Nginx, http2: bool) -> None:
    url = ng.url("h2")
    result = await run(url, http2=http2, users=2, requests=10)  # the system's CAs: refused
    assert counts(result) == (0, 10, {"TLS error": 10})
    for controls in ({"cacert": ng.file("ca.pem")}, {"insecure": True}):
        result = await run(url, http2=http2, users=2, requests=10, **controls)
        assert counts(result) == (10, 0, {})


@pytest.mark.parametrize(("server", "http2"), [("h2", True), ("h2c", True), ("h1tls", False)])
async def test_no_keepalive_opens_one_connection_per_request(
        ng: H2Nginx, server: str, http2: bool) -> None:
    before = len(ng.lines(server))
    result = await run(ng.url(server), http2=http2, keepalive=False, cacert=ng.file("ca.pem"),
                       users=3, requests=30)
    lines = ng.lines(server)[before:]
    assert counts(result) == (30, 0, {}) and len(lines) == 30
    assert len({line.connection for line in lines}) == 30
    assert result.summary["connections"]["opened"] == 30 == result.df[
        "interval_connections"].sum()


@pytest.mark.parametrize(("server", "http2"), [("h2", True), ("h1tls", False)])
async def test_connect_to_reaches_the_loopback_server_under_another_name(
        ng: H2Nginx, server: str, http2: bool) -> None:
    port = ng.ports[server]
    before = len(ng.lines(server))
    result = await run(ng.url(server, host=SERVICE_HOST), http2=http2, cacert=ng.file("ca.pem"),
                       connect_to=[f"{SERVICE_HOST}:{port}:127.0.0.1:{port}"], users=2,
                       requests=20)
    lines = ng.lines(server)[before:]
    assert counts(result) == (20, 0, {}) and len(lines) == 20
    assert {line.host for line in lines} == {SERVICE_HOST}


def test_the_cli_runs_http2_with_client_certificate_and_connect_to(
        ng: H2Nginx, capsys: pytest.CaptureFixture[str]) -> None:
    port = ng.ports["mtls"]
    before = len(ng.lines("mtls"))
    code = cli.main(["run", ng.url("mtls", host=SERVICE_HOST), "--http2", "--streams", "4",
                     "-u", "8", "-n", "80", "--cacert", ng.file("ca.pem"),
                     "--cert", ng.file("client.pem"), "--key", ng.file("client.key"),
                     "--connect-to", f"{SERVICE_HOST}:{port}:127.0.0.1:{port}",
                     "--json", "--no-history"])
    out, err = capsys.readouterr()
    summary = json.loads(out)
    lines = ng.lines("mtls")[before:]
    assert code == 0 and summary["completed_requests"] == 80 == len(lines)
    assert {line.protocol for line in lines} == {"HTTP/2.0"}
    assert {line.host for line in lines} == {SERVICE_HOST}
    assert summary["protocol"] == "h2" and summary["connections"]["opened"] == 2
    assert summary["parameters"]["streams"] == 4
    table = err[err.index("loadnb run "):]  # the summary table, after the live line
    assert "Protocol" in table and "h2 (2 connections)" in table
    assert "  connect " in table and "  TLS handshake " in table


@pytest.mark.parametrize(("args", "message"), [
    (["--http2", "--streams", "0"], "streams must be"),
    (["--streams", "4"], "streams (concurrent streams per connection) applies to http2"),
    (["--cacert", "/nonexistent/ca.pem"], "cacert: no such file '/nonexistent/ca.pem'"),
    (["--cert", "/nonexistent/client.pem"], "cert: no such file"),
    (["--connect-to", "svc.loadnb.test:443"], "connect_to must be HOST:PORT:ADDR:PORT"),
    (["--connect-to", "a:b:127.0.0.1:1"], "connect_to: 'b' is not a port"),
])
def test_bad_protocol_input_exits_2_with_one_line_and_sends_nothing(
        ng: H2Nginx, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    before = len(ng.lines("h2c"))
    code = cli.main(["run", ng.url("h2c"), "-n", "5", "--no-history", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("loadnb: error: ")
    assert message in err
    assert len(ng.lines("h2c", settle=0.3)) == before  # nothing reached the server


def test_http2_with_a_ws_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", "ws://127.0.0.1:9/ws/echo", "--http2", "-n", "5", "--no-history"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "expected http:// or https://" in err
