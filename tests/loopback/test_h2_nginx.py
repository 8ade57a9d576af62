"""The HTTP/2 transport against a real nginx (tests/h2nginx.py): every count compared with the
access log's lines (``$server_protocol``, ``$connection``, ``$host``).

Runs go through the public ``Run`` with a transport factory that turns HTTP/2 and the connection
controls on (the spec and CLI options come with the wiring after the renovation).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from loadnb import Run, make_spec
from loadnb.record.accounting import check_accounting
from loadnb.results.result import Result
from loadnb.transport import TransportOptions, make_transport
from loadnb.transport.h2 import H2Transport
from tests.conftest import until
from tests.h2nginx import BIG, SERVICE_HOST, H2Nginx, counts


class Made:
    """A transport factory turning ``http2`` and the given controls on; keeps what it made."""

    def __init__(self, **controls: Any) -> None:
        self.controls = controls
        self.transports: list[Any] = []

    def __call__(self, options: TransportOptions) -> Any:
        transport = make_transport(replace(options, **{"http2": True, **self.controls}))
        self.transports.append(transport)
        return transport

    @property
    def one(self) -> Any:
        assert len(self.transports) == 1
        return self.transports[0]


async def run(url: str, factory: Callable[[TransportOptions], Any], **params: Any) -> Result:
    result = await Run(make_spec(url, history="off", **params), transport=factory).run()
    check_accounting(result)
    return result


@pytest.mark.parametrize("server", ["h2", "h2c"])
async def test_http2_requests_counted_exactly_against_the_access_log(ng: H2Nginx,
                                                                     server: str) -> None:
    made = Made(cacert=ng.file("ca.pem"), streams=10)
    before = len(ng.lines(server))
    result = await run(ng.url(server), made, users=25, requests=400)
    lines = ng.lines(server)[before:]
    assert counts(result) == (400, 0, {})
    assert len(lines) == 400 and {line.protocol for line in lines} == {"HTTP/2.0"}
    assert made.one.protocol == server and not made.one.warnings
    # 25 users on 10 streams per connection: ceil(25 / 10) connections
    assert len({line.connection for line in lines}) == math.ceil(25 / 10)
    # the run's source took the connections' timings, tick by tick, into the summary
    conns = result.summary["connections"]
    assert conns["opened"] == 3 and result.summary["protocol"] == server
    assert conns["connect_ms"]["p50"] is not None
    assert (conns["tls_ms"]["p50"] is not None) == (server == "h2")


async def test_open_model_and_a_big_body_over_h2(ng: H2Nginx) -> None:
    made = Made(cacert=ng.file("ca.pem"))
    before = len(ng.lines("h2"))
    result = await run(ng.url("h2", "/static/big.bin"), made, rate=40, duration=1.0)
    lines = ng.lines("h2")[before:]
    completed, failed, _ = counts(result)
    assert failed == 0 and completed == len(lines) > 10
    assert result.summary["bytes_received"] == BIG * completed == sum(
        line.body_bytes for line in lines)


async def test_a_tls_server_without_h2_falls_back_to_http11_and_says_so(ng: H2Nginx) -> None:
    made = Made(cacert=ng.file("ca.pem"))
    before = len(ng.lines("h1tls"))
    result = await run(ng.url("h1tls"), made, users=5, requests=100)
    lines = ng.lines("h1tls")[before:]
    assert counts(result) == (100, 0, {})
    assert {line.protocol for line in lines} == {"HTTP/1.1"} and len(lines) == 100
    transport = made.one
    assert transport.protocol == "http/1.1"
    assert transport.warnings == [
        "HTTP/2 was asked for, but the server did not offer h2 by ALPN (it chose http/1.1): "
        "the run speaks HTTP/1.1"]
    assert result.summary["protocol"] == "http/1.1"


async def test_client_certificate_required_accepted_with_cert_refused_without(
        ng: H2Nginx) -> None:
    ca = ng.file("ca.pem")
    with_cert = Made(cacert=ca, cert=ng.file("client.pem"), key=ng.file("client.key"))
    result = await run(ng.url("mtls"), with_cert, users=4, requests=40)
    assert counts(result) == (40, 0, {})
    # nginx completes the handshake and answers 400 ("No required SSL certificate was sent")
    result = await run(ng.url("mtls"), Made(cacert=ca), users=4, requests=40)
    assert counts(result) == (0, 40, {"HTTP 400": 40})
    assert "No required SSL certificate was sent" in result.summary["error_samples"]["HTTP 400"]


async def test_a_self_signed_server_fails_verified_works_with_cacert_or_insecure(
        ng: H2Nginx) -> None:
    result = await run(ng.url("h2"), Made(), users=2, requests=10)
    assert counts(result) == (0, 10, {"TLS error": 10})
    for controls in ({"cacert": ng.file("ca.pem")}, {"insecure": True}):
        result = await run(ng.url("h2"), Made(**controls), users=2, requests=10)
        assert counts(result) == (10, 0, {})


@pytest.mark.parametrize("server", ["h2", "h2c"])
async def test_no_keepalive_opens_one_connection_per_request(ng: H2Nginx, server: str) -> None:
    before = len(ng.lines(server))
    made = Made(cacert=ng.file("ca.pem"), keepalive=False)
    result = await run(ng.url(server), made, users=3, requests=30)
    lines = ng.lines(server)[before:]
    assert counts(result) == (30, 0, {})
    assert len(lines) == 30 and len({line.connection for line in lines}) == 30
    assert result.summary["connections"]["opened"] == 30


async def test_connect_to_reaches_the_loopback_server_under_its_service_name(
        ng: H2Nginx) -> None:
    port = ng.ports["h2"]
    made = Made(cacert=ng.file("ca.pem"),
                connect_to=(f"{SERVICE_HOST}:{port}:127.0.0.1:{port}",))
    before = len(ng.lines("h2"))
    result = await run(ng.url("h2", host=SERVICE_HOST), made, users=2, requests=20)
    lines = ng.lines("h2")[before:]
    assert counts(result) == (20, 0, {})
    assert {line.host for line in lines} == {SERVICE_HOST} and len(lines) == 20


async def test_goaway_mid_run_every_stream_accounted(ng: H2Nginx) -> None:
    """nginx says GOAWAY after 7 requests on a connection (keepalive_requests 7): the streams
    it refused fail as GOAWAY NO_ERROR, the rest complete, each once; the slots reconnect."""
    before = len(ng.lines("goaway"))
    made = Made(streams=5)
    result = await run(ng.url("goaway"), made, users=10, requests=300)
    lines = ng.lines("goaway")[before:]
    completed, failed, errors = counts(result)
    assert completed == len(lines) and completed + failed == 300
    assert set(errors) <= {"GOAWAY NO_ERROR"}
    assert len({line.connection for line in lines}) >= completed // 7


async def test_stop_mid_run_cancels_streams_in_flight_and_closes_everything(
        ng: H2Nginx) -> None:
    made = Made(cacert=ng.file("ca.pem"))
    run_ = Run(make_spec(ng.url("h2", "/static/big.bin"), users=30, duration=30.0,
                         history="off"), transport=made)
    run_.start()
    await until(lambda: bool(made.transports) and any(c.streams for c in made.one.live), 10,
                what="streams in flight")
    run_.stop()
    result = await asyncio.wait_for(run_.wait(), 10)
    check_accounting(result)
    assert result.summary["cancelled_requests"] > 0
    assert not made.one.live  # every connection closed


async def test_http2_rejects_what_it_cannot_run() -> None:
    with pytest.raises(ValueError, match="streams must be at least 1"):
        H2Transport(TransportOptions("http://127.0.0.1:9/", http2=True, streams=0))
    with pytest.raises(ValueError, match="cacert: cannot use"):
        H2Transport(TransportOptions("https://127.0.0.1:9/", http2=True, cacert="/nope.pem"))
    with pytest.raises(ValueError, match="connect_to must be"):
        H2Transport(TransportOptions("http://127.0.0.1:9/", http2=True, connect_to=("x",)))


async def test_scenarios_on_aiohttp_take_cacert_client_cert_and_connect_to(ng: H2Nginx) -> None:
    """The same controls for HTTP/1.1 scenarios (the aiohttp transport): the client-certificate
    server reached under the service name, verified against the test CA."""
    port = ng.ports["mtls"]
    seen: list[int] = []

    async def task(user: Any) -> None:
        response = await user.get("/")
        seen.append(response.status)

    def factory(options: TransportOptions) -> Any:
        return make_transport(replace(
            options, cacert=ng.file("ca.pem"), cert=ng.file("client.pem"),
            key=ng.file("client.key"), connect_to=(f"{SERVICE_HOST}:{port}:127.0.0.1:{port}",)))

    before = len(ng.lines("mtls"))
    result = await Run(make_spec(ng.url("mtls", host=SERVICE_HOST), scenario=task, users=2,
                                 requests=10, history="off"), transport=factory).run()
    lines = ng.lines("mtls")[before:]
    assert result.summary["transport"] == "aiohttp" and counts(result) == (10, 0, {})
    assert seen == [200] * 10 and {line.host for line in lines} == {SERVICE_HOST}
