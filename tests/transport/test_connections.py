"""Connections as data: :class:`ConnectStats` (added, merged, carried by the codec), what a
source takes of a transport (timings, protocol, the fall-back's warning), the snapshot's
columns, the connector trying every address of a name, and the spec's checks of the protocol
and connection controls (one clear ValueError before anything is sent)."""

from __future__ import annotations

import asyncio
import math
import socket
from pathlib import Path
from typing import Any

import pytest

from loadnb import make_spec
from loadnb.engine.source import LocalSource, connections_of
from loadnb.metrics.codec import decode_payload, encode_payload
from loadnb.metrics.connections import ConnectStats, pick_protocol
from loadnb.metrics.payload import Payload, SourceStatus, merge_payloads
from loadnb.metrics.snapshot import Snapshot
from loadnb.metrics.stats import Recorder
from loadnb.runner.interval import add_connections
from loadnb.transport.base import TransportOptions
from loadnb.transport.tls import Connector, ConnectTiming


def test_connect_stats_add_merge_and_travel_through_the_codec() -> None:
    a, b = ConnectStats(protocol="h2"), ConnectStats(protocol="http/1.1")
    a.add([(0.001, 0.004, True), (0.002, 0.005, True)])
    b.add([(0.003, 0.0, False)])
    merged = merge_payloads([Payload({}, SourceStatus(), connections=a),
                             Payload({}, SourceStatus(), connections=b)]).connections
    assert (merged.opened, merged.connect.total, merged.tls.total) == (3, 3, 2)
    assert merged.protocol == "h2"  # what was asked for; the fall-back says so in a warning
    back = decode_payload(encode_payload(Payload({}, SourceStatus(), connections=merged)))
    assert back.connections.opened == 3 and back.connections.protocol == "h2"
    assert back.connections.tls.summary() == merged.tls.summary()


def test_pick_protocol() -> None:
    assert pick_protocol("", "h2c") == "h2c" and pick_protocol("http/1.1", "") == "http/1.1"
    assert pick_protocol("http/1.1", "h2") == "h2"


class FakeTransport:
    waiting = 0

    def __init__(self, protocol: str | None) -> None:
        self.protocol = protocol
        self.warnings: list[str] = []
        self.timings = [ConnectTiming(0.001, 0.002, "h2"), ConnectTiming(0.001, 0.0, "h2c")]

    def take_timings(self) -> list[ConnectTiming]:
        new, self.timings = self.timings, []
        return new


def test_a_source_takes_timings_once_and_protocol_of_the_transport() -> None:
    transport = FakeTransport("h2")
    first, second = connections_of(transport), connections_of(transport)
    assert (first.opened, first.tls.total, first.protocol) == (2, 1, "h2")
    assert (second.opened, second.protocol) == (0, "h2")
    assert connections_of(FakeTransport(None)).protocol == ""  # not connected yet
    assert connections_of(object()).protocol == "http/1.1"  # aiohttp: no timings


def test_the_transports_warnings_reach_the_run_once() -> None:
    told: list[str] = []
    transport = FakeTransport("http/1.1")
    engine: Any = type("Engine", (), {  # an EngineProgress
        "started": 0, "dropped": 0, "phase": "running", "active_users": 0,
        "elapsed": lambda s: 1.0, "target_users": lambda s, e: 0,
        "target_rate": lambda s, e: math.nan, "progress": lambda s, e: (0.0, math.nan),
        "take_events": lambda s: [], "take_slowest": lambda s: [],
        "take_send_lag": lambda s: math.nan})()
    source = LocalSource(engine, Recorder(on_warning=told.append), transport)
    transport.warnings.append("fell back")
    source.collect(final=False)
    payload = source.collect(final=True)
    assert told == ["fell back"] and payload.connections.protocol == "http/1.1"


def test_snapshot_columns_are_nan_without_connections() -> None:
    snap = Snapshot(0.0, 0.5, 0.0, 0, 0, 0, math.nan, 0.0, 0.0, math.nan)
    add_connections(snap, ConnectStats())
    assert snap.interval_connections == 0 and math.isnan(snap.connect_p50_ms)
    stats = ConnectStats()
    stats.add([(0.010, 0.0, False)])
    add_connections(snap, stats)
    assert snap.interval_connections == 1 and abs(snap.connect_p50_ms - 10.0) < 0.1
    assert math.isnan(snap.tls_p50_ms)


async def test_the_connector_tries_every_address_of_a_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    live = server.sockets[0].getsockname()[1]
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: refused
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
        assert host == "svc.loadnb.test"  # the name is looked up, never anything else
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p))
                for p in (dead.getsockname()[1], live)]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    try:
        connector = Connector(TransportOptions(f"http://svc.loadnb.test:{live}/"))
        transport, _, timing = await connector.connect(asyncio.Protocol, 5.0)
        transport.close()
        assert timing.protocol == "http/1.1" and timing.tls == 0.0
        assert connector.take_timings() == [timing] and connector.take_timings() == []
    finally:
        dead.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("params", "message"), [
    ({"http2": True, "streams": 0}, "streams must be"),
    ({"streams": 4}, "applies to http2"),
    ({"http2": True, "transport": "fast"}, "drop transport='fast'"),
    ({"http2": True, "follow_redirects": True}, "does not follow redirects"),
    ({"key": "KEY"}, "pass cert as well"),
    ({"cacert": "/nonexistent.pem"}, "cacert: no such file"),
    ({"cacert": "NOTPEM"}, "cacert: cannot use"),
    ({"connect_to": ["example.com:443"]}, "connect_to must be HOST:PORT:ADDR:PORT"),
    ({"connect_to": 5}, "connect_to is a list"),
])
def test_the_spec_rejects_bad_protocol_controls(tmp_path: Path, params: dict[str, Any],
                                                message: str) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    params = {k: (str(junk) if v in ("KEY", "NOTPEM") else v) for k, v in params.items()}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make_spec("http://127.0.0.1:9/", **params)


def test_http2_scenarios_are_accepted_with_redirects_and_trace() -> None:
    # scenarios send their requests over HTTP/2 (tests/transport/test_h2_user.py), following
    # redirects and sending per-request trace headers as over HTTP/1.1; URL runs still cannot
    async def task(user: Any) -> None:
        await user.get("/")

    spec = make_spec("http://127.0.0.1:9/", scenario=task, http2=True, streams=4,
                     follow_redirects=True, trace=True)
    assert spec.transport_options().http2 and not spec.transport_options().plain
    with pytest.raises(ValueError, match="does not follow redirects in URL runs"):
        make_spec("http://127.0.0.1:9/", http2=True, follow_redirects=True)
    with pytest.raises(ValueError, match="invalid URL 'ws://"):
        make_spec("ws://127.0.0.1:9/", scenario=task, http2=True)


def test_the_controls_reach_the_transport_options_and_parameters() -> None:
    spec = make_spec("https://svc.loadnb.test:8443/", http2=True, streams=4, users=10,
                     connect_to="svc.loadnb.test:8443:127.0.0.1:9443", keepalive=False)
    options = spec.transport_options()
    assert (options.http2, options.streams, options.keepalive) == (True, 4, False)
    assert options.connect_to == ("svc.loadnb.test:8443:127.0.0.1:9443",)
    params = spec.public_params()
    assert (params["http2"], params["streams"], params["connections"]) == (True, 4, 3)
    assert spec.replace(users=20).connect_to == spec.connect_to
    assert make_spec("http://127.0.0.1:9/", http2=True).transport_options().streams == 10
