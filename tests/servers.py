"""Real test servers on 127.0.0.1, each in its own thread and event loop.

``RawHTTPServer`` speaks minimal HTTP/1.1 over asyncio streams and counts every request it parses,
so tests can compare the server's view with loadnb's accounting. Behaviour per request is chosen by
a ``plan(n)`` callable (n = 1, 2, … in arrival order) returning an :class:`Action`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TypeVar


@dataclass(frozen=True)
class Action:
    """What the server does with one request."""

    status: int = 200
    body: bytes = b"OK"
    delay: float = 0.0
    reset: bool = False  # abort the connection (RST) instead of answering
    close: bool = False  # answer with Connection: close, then close


Plan = Callable[[int], Action]


def always_ok(_: int) -> Action:
    return Action()


def reset_every(n: int) -> Plan:
    """Answer normally, but reset the connection on every n-th request."""
    return lambda i: Action(reset=True) if i % n == 0 else Action()


def status_every(n: int, status: int = 500) -> Plan:
    """Answer 200, but ``status`` on every n-th request."""
    return lambda i: Action(status=status, body=b"ERR") if i % n == 0 else Action()


S = TypeVar("S", bound="ThreadedServer")


class ThreadedServer:
    """An asyncio stream server on 127.0.0.1 in its own thread and event loop, used as a context
    manager; subclasses implement ``_handle`` (and may extend ``_start`` / ``_stop``)."""

    def __init__(self, name: str = "test-server") -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name=name)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self: S) -> S:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        """Stop listening and end every connection handler."""
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class RawHTTPServer(ThreadedServer):
    """A counting HTTP/1.1 server in a background thread (use as a context manager)."""

    def __init__(self, plan: Plan = always_ok) -> None:
        super().__init__("raw-http-server")
        self.plan = plan
        self.received = 0
        self.responses: dict[int, int] = {}
        self.resets = 0
        self.connections = 0
        self.open = 0  # connections open right now
        self.hold_times: list[float] = []  # seconds from request parsed to response written

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
            self.open += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                parsed = time.perf_counter()
                with self._lock:
                    self.received += 1
                    n = self.received
                action = self.plan(n)
                if action.delay:
                    await asyncio.sleep(action.delay)
                if action.reset:
                    with self._lock:
                        self.resets += 1
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                conn = b"Connection: close\r\n" if action.close else b""
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n%s" % (
                    action.status, len(action.body), conn, action.body))
                await writer.drain()
                held = time.perf_counter() - parsed
                with self._lock:
                    self.responses[action.status] = self.responses.get(action.status, 0) + 1
                    self.hold_times.append(held)
                if action.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                asyncio.CancelledError):
            pass  # the client went away, or the server is shutting down
        finally:
            with self._lock:
                self.open -= 1
            writer.close()


def _uniform_delays(seed: int, low: float, high: float) -> Plan:
    rng = random.Random(seed)
    delays = [rng.uniform(low, high) for _ in range(1000)]
    return lambda i: Action(delay=delays[i % 1000])


def _serve_in_child(conn: Connection, seed: int, low: float, high: float) -> None:
    with RawHTTPServer(_uniform_delays(seed, low, high)) as server:
        conn.send(server.port)
        conn.recv()
        conn.send(list(server.hold_times))


class DelayServerProcess:
    """A :class:`RawHTTPServer` with seeded uniform delays in its own process (no shared GIL
    with the generator), reporting its own per-request hold times when it stops."""

    def __init__(self, seed: int = 7, low: float = 0.010, high: float = 0.030) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_in_child, args=(child, seed, low, high),
                                 daemon=True)
        self.port = 0
        self.hold_times: list[float] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> DelayServerProcess:
        self._proc.start()
        if not self._conn.poll(30):
            raise RuntimeError("delay server did not start")
        self.port = self._conn.recv()
        return self

    def stop(self) -> list[float]:
        """Stop the server and return its hold times (seconds)."""
        if self._proc.is_alive():
            self._conn.send("stop")
            self.hold_times = self._conn.recv() if self._conn.poll(10) else []
            self._proc.join(10)
        return self.hold_times

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._proc.is_alive():
            self._proc.kill()
