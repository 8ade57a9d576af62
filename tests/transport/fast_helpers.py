"""The fast-transport tests' servers and checks: a raw recording HTTP/1.1 server, a TLS staller."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas  # noqa: F401 - imported up front: a first import inside a run would stall the loop
import pytest

from loadnb import Run, make_spec
from loadnb.results.result import Result
from tests.servers import ThreadedServer

TRANSPORTS = pytest.mark.parametrize("transport", ["fast", "aiohttp"])
STABLE = {"timeout", "connection refused", "connection reset", "invalid HTTP response",
          "incomplete body", "TLS error"}


# -- a raw, recording HTTP/1.1 server ------------------------------------------------------------
CLOSE = "close"  # step: close the connection after this response
RESET = "reset"  # step: RST the connection now
Step = bytes | float | str  # bytes are written, a float is a pause in seconds


@dataclass
class Seen:
    """One request as the server parsed it."""

    conn: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def get(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None


Respond = Callable[[int, Seen], Iterable[Step]]


def head(status: int = 200, **headers: str | int) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k.replace('_', '-')}: {v}"
                                        for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def fixed(body: bytes = b"OK", **headers: str | int) -> list[Step]:
    return [head(Content_Length=len(body), **headers) + body]


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def chunked(pieces: list[bytes]) -> list[Step]:
    return [head(Transfer_Encoding="chunked"), *map(chunk, pieces), b"0\r\n\r\n"]


class RawServer(ThreadedServer):
    """A recording HTTP/1.1 server on 127.0.0.1 in its own thread (use as a context manager).

    ``respond(n, seen)`` (n = 1, 2, … in parse order) returns the steps of the answer. Like a real
    server it closes after answering a request that says ``Connection: close`` unless
    ``honor_close=False``. ``seen`` (requests), ``connections`` (accepted), ``open`` (still open).
    """

    def __init__(self, respond: Respond = lambda n, s: fixed(), *,
                 honor_close: bool = True) -> None:
        super().__init__("raw-server")
        self.respond = respond
        self.honor_close = honor_close
        self.seen: list[Seen] = []
        self.connections = 0
        self.open = 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def received(self) -> int:
        with self._lock:
            return len(self.seen)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
            self.open += 1
            cid = self.connections
        try:
            while True:
                raw = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = raw[0].split(" ", 2)
                headers = [(k.strip(), v.strip())
                           for k, _, v in (line.partition(":") for line in raw[1:] if line)]
                seen = Seen(cid, method, target, headers, b"")
                length = int(seen.get("content-length") or 0)
                if length:
                    seen.body = await reader.readexactly(length)
                with self._lock:
                    self.seen.append(seen)
                    n = len(self.seen)
                keep = not (self.honor_close and (seen.get("connection") or "").lower() == "close")
                for step in self.respond(n, seen):
                    if isinstance(step, float):
                        await asyncio.sleep(step)
                    elif step == CLOSE:
                        keep = False
                    elif step == RESET:
                        sock = writer.get_extra_info("socket")
                        linger = struct.pack("ii", 1, 0)
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                        writer.transport.abort()
                        return
                    else:
                        assert isinstance(step, bytes)
                        writer.write(step)
                        await writer.drain()
                if not keep:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        finally:
            writer.close()
            with self._lock:
                self.open -= 1


class StallingTLSServer:
    """HTTPS on 127.0.0.1 (self-signed) answering ``200 OK`` to every request, that never answers
    the client's TLS ``close_notify`` (a client waiting for that reply waits forever) and counts
    the connections the client then closes at the TCP level (``tcp_closed``). Threads, not
    asyncio: it must not answer the TLS shutdown the way an asyncio server would."""

    def __init__(self, cert: Path, key: Path) -> None:
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert, key)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.received = self.shutdowns = self.tcp_closed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def __enter__(self) -> StallingTLSServer:
        self._threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _wait_readable(self, fd: int) -> bool:
        while not self._stop.is_set():
            if select.select([fd], [], [], 0.05)[0]:
                return True
        return False

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            with self._ctx.wrap_socket(conn, server_side=True) as tls:
                buf = b""
                while tls.pending() or self._wait_readable(tls.fileno()):
                    data = tls.recv(65536)
                    if not data:  # the client's close_notify: never answered
                        with self._lock:
                            self.shutdowns += 1
                        break
                    buf += data
                    while b"\r\n\r\n" in buf:
                        _, _, buf = buf.partition(b"\r\n\r\n")
                        with self._lock:
                            self.received += 1
                        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                else:
                    return
                if self._wait_readable(tls.fileno()) and os.read(tls.fileno(), 1) == b"":
                    with self._lock:
                        self.tcp_closed += 1
        except (OSError, ssl.SSLError):
            with self._lock:
                self.tcp_closed += 1  # a reset is a close too


async def settle(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Wait (on the loop) until ``predicate()`` holds; False if it never did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def run(url: str, **params: object) -> Result:
    return await Run(make_spec(url, **params)).run()  # type: ignore[arg-type]


def check(result: Result) -> dict[str, object]:
    """The summary, after the accounting identity and the stable-kinds rule are checked."""
    s = result.summary
    assert s["total_requests"] == (s["completed_requests"] + s["failed_requests"]
                                   + s["cancelled_requests"])
    assert set(s["errors"]) <= STABLE | {f"HTTP {c}" for c in range(400, 600)}, s["errors"]
    return s
