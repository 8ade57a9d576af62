"""A fault-injection HTTP server on 127.0.0.1, in its own thread and event loop.

``FaultServer(plan)`` speaks just enough HTTP/1.1 over raw asyncio streams to parse requests, then
misbehaves on demand: ``plan(n)`` (n = 1, 2, … in the order requests are parsed) returns a
:class:`Fault` saying what to do with request n:

========================  ==========================================================================
``Fault.OK``              a normal response (keep-alive unless ``close``)
``Fault.RESET``           RST the connection instead of answering (SO_LINGER 0 + abort)
``Fault.RESET_MID``       send the head and half of the body, then RST
``Fault.GARBAGE``         send bytes that are not HTTP, then close
``Fault.SHORT_BODY``      send fewer body bytes than ``Content-Length``, then close (FIN)
``Fault.HOLD``            never answer; hold the connection until the client closes it
``Fault.TRICKLE``         a valid head, then the body one byte every ``trickle`` seconds
``Fault.HUGE_HEADER``     a response with one ``header_bytes``-long header line
``Fault.SILENT_CLOSE``    a normal keep-alive response, then close without saying so (the race of
                          a server whose keep-alive timeout is shorter than the client's)
========================  ==========================================================================

``close=True`` adds ``Connection: close`` to a normal response and closes after it. Like a real
server, it also answers a request that says ``Connection: close`` with ``Connection: close`` and
closes (``honor_close=False`` makes it ignore the client's close, as some broken servers do).
``drop_on_accept(c)`` (c = 1, 2, … per accepted connection) True: accept the TCP connection and
close it before reading anything (a server at its connection limit). The server can also die and
come back: :meth:`FaultServer.outage` stops listening and drops every connection, then rebinds
the same port after ``downtime`` seconds. :func:`refused_port` gives a URL whose port refuses
connections (a bound socket that never listens, so no other process can take the port).

Counters (read them after the run; :meth:`FaultServer.settle` waits until they stop moving):
``received`` (requests parsed), ``completed`` (well-formed responses fully written, by status),
``faults`` (faults carried out, by kind), ``connections`` (accepted), ``dropped`` (connections
closed on accept), ``not_http`` (connections that opened with a TLS ClientHello: answered with a
plain 400 and closed, as an HTTP-only port does), ``outages`` ((down, up) times).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .servers import ThreadedServer


@dataclass(frozen=True)
class Fault:
    """What the server does with one request."""

    OK = "ok"
    RESET = "reset"
    RESET_MID = "reset mid-response"
    GARBAGE = "garbage"
    SHORT_BODY = "short body"
    HOLD = "hold"
    TRICKLE = "trickle"
    HUGE_HEADER = "huge header"
    SILENT_CLOSE = "silent close"

    kind: str = OK
    status: int = 200
    body: bytes = b"OK"
    close: bool = False  # Connection: close on a normal response, then close
    delay: float = 0.0  # seconds before doing anything
    trickle: float = 0.05  # seconds between body bytes (TRICKLE)
    header_bytes: int = 100_000  # length of the huge header's value (HUGE_HEADER)


Plan = Callable[[int], Fault]

OK = Fault()
GARBAGE_BYTES = b"\x16\x03\x01 this is not HTTP at all \x00\xff\r\n\r\n"


def always(fault: Fault) -> Plan:
    """The same fault for every request."""
    return lambda _n: fault


def every(n: int, fault: Fault, otherwise: Fault = OK) -> Plan:
    """``fault`` on every n-th request, ``otherwise`` on the others."""
    return lambda i: fault if i % n == 0 else otherwise


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultServer(ThreadedServer):
    """The fault-injection server (use as a context manager; ``url`` once entered)."""

    def __init__(self, plan: Plan | None = None, *, honor_close: bool = True,
                 drop_on_accept: Callable[[int], bool] | None = None) -> None:
        super().__init__("fault-server")
        self.plan = plan or always(OK)
        self.honor_close = honor_close
        self.drop_on_accept = drop_on_accept
        self.dropped = 0
        self.received = 0
        self.completed: dict[int, int] = {}
        self.faults: dict[str, int] = {}
        self.connections = 0
        self.not_http = 0
        self.outages: list[tuple[float, float]] = []  # (down, up) perf_counter times
        self._writers: set[asyncio.StreamWriter] = set()

    # -- the test's side ---------------------------------------------------------------------
    @property
    def answered(self) -> int:
        """Well-formed responses fully written."""
        with self._lock:
            return sum(self.completed.values())

    def outage(self, downtime: float = 1.0, after: float = 0.0) -> None:
        """After ``after`` s, die (stop listening, drop every connection) for ``downtime`` s,
        then listen again on the same port. Returns at once; ``outages`` records the times."""
        asyncio.run_coroutine_threadsafe(self._outage(downtime, after), self._loop)

    async def settle(self, quiet: float = 0.1, limit: float = 3.0) -> int:
        """Wait (without blocking the caller's loop) until ``received`` has not changed for
        ``quiet`` s, at most ``limit`` s; return it. Requests sent just before the end of a run
        may still be in the server's socket buffer when the run returns."""
        deadline = time.perf_counter() + limit
        last, since = self.received, time.perf_counter()
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
            now = self.received
            if now != last:
                last, since = now, time.perf_counter()
            elif time.perf_counter() - since >= quiet:
                break
        return last

    # -- the server's side -------------------------------------------------------------------
    async def _start(self) -> None:
        await self._listen()

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        sock.setblocking(False)
        self._server = await asyncio.start_server(self._handle, sock=sock, limit=1 << 20)
        self.port = sock.getsockname()[1]

    async def _outage(self, downtime: float, after: float) -> None:
        await asyncio.sleep(after)
        down = time.perf_counter()
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(downtime)
        await self._listen()
        with self._lock:
            self.outages.append((down, time.perf_counter()))

    async def _stop(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        await super()._stop()

    def _count(self, fault: Fault) -> None:
        with self._lock:
            self.faults[fault.kind] = self.faults.get(fault.kind, 0) + 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with self._lock:
            self.connections += 1
            c = self.connections
            drop = self.drop_on_accept is not None and self.drop_on_accept(c)
            self.dropped += int(drop)
        try:
            while not drop and await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                OSError, ValueError, asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is done."""
        first = await reader.readexactly(1)
        if first == b"\x16":  # a TLS ClientHello: answer as a plain-HTTP server would
            with self._lock:
                self.not_http += 1
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return False
        head = first + await reader.readuntil(b"\r\n\r\n")
        length, client_close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and b"close" in value.lower():
                client_close = self.honor_close
        if length:
            await reader.readexactly(length)
        with self._lock:
            self.received += 1
            n = self.received
        fault = self.plan(n)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        kind, body = fault.kind, fault.body
        if kind != Fault.OK:
            self._count(fault)
        if kind == Fault.RESET:
            _rst(writer)
            return False
        if kind == Fault.GARBAGE:
            writer.write(GARBAGE_BYTES)
            await writer.drain()
            writer.close()
            return False
        if kind == Fault.HOLD:
            while await reader.read(1 << 16):  # until the client closes
                pass
            return False
        head_out = b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n" % (fault.status, len(body))
        if kind == Fault.HUGE_HEADER:
            head_out += b"X-Huge: " + b"a" * fault.header_bytes + b"\r\n"
        if kind in (Fault.RESET_MID, Fault.SHORT_BODY):
            writer.write(head_out + b"\r\n" + body[: len(body) // 2])
            await writer.drain()
            await asyncio.sleep(0.02)  # let the client read the head first
            if kind == Fault.RESET_MID:
                _rst(writer)
            else:
                writer.close()
            return False
        if kind == Fault.TRICKLE:
            writer.write(head_out + b"\r\n")
            for i in range(len(body)):
                await writer.drain()
                if writer.transport.is_closing() or reader.at_eof():
                    return False
                writer.write(body[i:i + 1])
                await asyncio.sleep(fault.trickle)
            await writer.drain()
            self._done(fault.status)
            return True
        close = fault.close or client_close
        if close:
            head_out += b"Connection: close\r\n"
        writer.write(head_out + b"\r\n" + body)
        await writer.drain()
        self._done(fault.status)
        if close or kind == Fault.SILENT_CLOSE:
            writer.close()
            return False
        return True

    def _done(self, status: int) -> None:
        with self._lock:
            self.completed[status] = self.completed.get(status, 0) + 1


@contextlib.contextmanager
def refused_port() -> Iterator[str]:
    """A URL on 127.0.0.1 whose port refuses connections: bound, never listening (so reserved)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        sock.close()
