"""The measured side of ``benchmarks/h2.py --scenario``: one scenario generator per process.

    python -m benchmarks.h2scenario <kind> '{"url": ..., "h1_url": ..., "seconds": ...}'

Every kind runs the same journey, 64 connections x 10 concurrent journeys (one per stream): a GET
of ``/`` whose body is checked (``OK``), then a POST of a small JSON body; it prints one JSON
object on its last line (``requests`` answered and checked, ``seconds`` of load, ``cpu`` seconds
of this process over the load). Kinds:

- ``loadnb-h2``: a loadnb scenario run (``http2=True``: the own framer, transport/h2scenario.py),
  recorder and monitor included;
- ``loadnb-h1``: the same scenario run over HTTP/1.1 (aiohttp) against nginx's HTTP/1.1 port;
- ``own``: the client layer alone: the same loop on ``H2Origin.exchange`` (the own framer,
  option a) without the run around it;
- ``h2lib``: the same loop on the ``h2`` library's state machine on an asyncio protocol
  (option b);
- ``httpx``: the same loop on ``httpx.AsyncClient(http2=True)`` (option c). nginx answers a POST
  to ``return 200`` without reading its body and may reset the stream before httpx sent the body:
  httpx then fails the request (``LocalProtocolError``), counted as failed, not answered.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from benchmarks.h2child import CONNECTIONS, STREAMS, cpu_seconds

BODY = {"item": 42, "quantity": 2, "note": "a small order"}
Exchange = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]  # (method, body) -> status, body


async def loop_for(seconds: float, exchanges: list[Exchange]) -> dict[str, Any]:
    """STREAMS journeys on each exchange function for ``seconds``; count the good requests."""
    good = failed = 0
    end = 0.0
    payload = json.dumps(BODY).encode()

    async def one(send: Exchange, method: str, body: bytes) -> None:
        nonlocal good, failed
        try:
            status, got = await send(method, body)
        except Exception:  # noqa: BLE001 - counted (httpx: see the module's docstring)
            failed += 1
            return
        ok = status == 200 and (got == b"OK" or method == "POST")
        good, failed = good + ok, failed + (not ok)

    async def journey(send: Exchange) -> None:
        while time.perf_counter() < end:
            await one(send, "GET", b"")
            await one(send, "POST", payload)

    for send in exchanges:  # connect first (as the others count their set-up too)
        await send("GET", b"")
    cpu0, start = cpu_seconds(), time.perf_counter()
    end = start + seconds
    await asyncio.gather(*(journey(s) for s in exchanges for _ in range(STREAMS)))
    return {"requests": good, "failed": failed, "seconds": time.perf_counter() - start,
            "cpu": cpu_seconds() - cpu0}


async def child_loadnb(p: dict[str, Any], http2: bool) -> dict[str, Any]:
    from loadnb import Run, make_spec

    async def shop(user: Any) -> None:
        await user.get("/", name="home", check=("OK", lambda r: r.content == b"OK"))
        await user.post("/", name="order", json=BODY)

    spec = make_spec(p["url"] if http2 else p["h1_url"], scenario=shop, http2=http2,
                     streams=STREAMS if http2 else None, connections=CONNECTIONS,
                     users=CONNECTIONS * STREAMS, duration=p["seconds"], history="off",
                     interval=0.5)
    cpu0 = cpu_seconds()
    result = await Run(spec).run()
    s = result.summary
    return {"requests": s["completed_requests"], "failed": s["failed_requests"],
            "seconds": s["duration_s"], "cpu": cpu_seconds() - cpu0, "protocol": s["protocol"]}


async def child_own(p: dict[str, Any]) -> dict[str, Any]:
    from loadnb.transport import TransportOptions
    from loadnb.transport.h2user import H2Origin

    origin = H2Origin(TransportOptions(p["url"], http2=True, streams=STREAMS,
                                       pool_limit=CONNECTIONS))
    url = p["url"]

    async def send(method: str, body: bytes) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body else {}
        one = await origin.exchange(method, url, headers, body)
        return one.status, one.content

    try:  # one exchange function: the origin spreads the streams over its connections
        return await loop_for(p["seconds"], [send] * CONNECTIONS)
    finally:
        await origin.aclose()


class H2LibConn(asyncio.Protocol):
    """One h2c connection on the ``h2`` library (a client at its simplest: no flow-control
    waits, the bodies are small)."""

    def __init__(self, authority: str) -> None:
        import h2.config
        import h2.connection

        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None))
        self.authority = authority.encode()
        self.waiting: dict[int, tuple[asyncio.Future[tuple[int, bytes]], list[Any]]] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        import h2.events

        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                self.waiting[event.stream_id][1][0] = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived):
                self.waiting[event.stream_id][1].append(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                    event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                fut, parts = self.waiting.pop(event.stream_id)
                fut.set_result((parts[0], b"".join(parts[1:])))
            elif isinstance(event, h2.events.StreamReset):
                fut, _ = self.waiting.pop(event.stream_id)
                fut.set_exception(ConnectionResetError(f"RST_STREAM {event.error_code}"))
        assert self.transport is not None
        self.transport.write(self.conn.data_to_send())

    async def send(self, method: str, body: bytes) -> tuple[int, bytes]:
        sid = self.conn.get_next_available_stream_id()
        headers = [(b":method", method.encode()), (b":scheme", b"http"),
                   (b":authority", self.authority), (b":path", b"/"),
                   (b"user-agent", b"bench"), (b"accept", b"*/*")]
        if body:
            headers += [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]
        self.conn.send_headers(sid, headers, end_stream=not body)
        if body:
            self.conn.send_data(sid, body, end_stream=True)
        fut: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self.waiting[sid] = (fut, [0])
        assert self.transport is not None
        self.transport.write(self.conn.data_to_send())
        return await fut


async def child_h2lib(p: dict[str, Any]) -> dict[str, Any]:
    parts = urlsplit(p["url"])
    loop = asyncio.get_running_loop()
    conns = [(await loop.create_connection(lambda: H2LibConn(parts.netloc), parts.hostname,
                                           parts.port))[1] for _ in range(CONNECTIONS)]
    try:
        return await loop_for(p["seconds"], [c.send for c in conns])
    finally:
        for c in conns:
            if c.transport is not None:
                c.transport.close()


async def child_httpx(p: dict[str, Any]) -> dict[str, Any]:
    import httpx

    clients = [httpx.AsyncClient(http1=False, http2=True) for _ in range(CONNECTIONS)]
    url = p["url"]

    def sender(client: httpx.AsyncClient) -> Exchange:
        async def send(method: str, body: bytes) -> tuple[int, bytes]:
            headers = {"Content-Type": "application/json"} if body else {}
            r = await client.request(method, url, content=body or None, headers=headers)
            return r.status_code, r.content
        return send

    try:
        return await loop_for(p["seconds"], [sender(c) for c in clients])
    finally:
        for client in clients:
            await client.aclose()


KINDS: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "loadnb-h2": lambda p: child_loadnb(p, True), "loadnb-h1": lambda p: child_loadnb(p, False),
    "own": child_own, "h2lib": child_h2lib, "httpx": child_httpx}


def child_main(kind: str, params: str) -> None:
    from loadnb.engine.loop import run_to_end

    print(json.dumps(run_to_end(KINDS[kind](json.loads(params)))))  # type: ignore[arg-type]


if __name__ == "__main__":
    child_main(sys.argv[1], sys.argv[2])
