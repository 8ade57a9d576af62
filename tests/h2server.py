"""A scripted HTTP/2 (h2c) server for tests, on the ``h2`` library's server state machine (an
independent implementation), in its own thread and loop (:class:`tests.servers.ThreadedServer`).

``plan(n)`` (n = 1, 2, ... in the order requests complete at the server) says what to do with each
request: answer (``"ok"``), reset the stream (``"rst"``), say GOAWAY refusing it and every later
stream of its connection (``"goaway"``), or never answer (``"silent"``). The server counts what
it did (and keeps each request's headers and body), so tests compare its view with loadnb's
accounting. A request for ``/moved...`` is answered ``302`` to ``/landed`` (with a cookie), one
for ``/missing...`` ``404``, one for ``/silent...`` never.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from .servers import ThreadedServer

Plan = Callable[[int], str]


@dataclass
class Counts:
    requests: int = 0  # requests whose end the server received
    answered: int = 0  # responses sent in full
    reset: int = 0  # streams the server reset
    refused: int = 0  # streams above a GOAWAY's last stream id
    cancelled_by_client: int = 0  # RST_STREAM from the client
    connections: int = 0
    max_open: int = 0  # most streams open at once on one connection
    bodies: list[bytes] = field(default_factory=list)
    heads: list[dict[bytes, bytes]] = field(default_factory=list)  # each request's headers


class H2Server(ThreadedServer):
    def __init__(self, plan: Plan = lambda n: "ok", *, max_streams: int | None = None,
                 window: int | None = None, body: bytes = b"OK",
                 headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__("h2-test-server")
        self.plan, self.max_streams, self.window, self.body = plan, max_streams, window, body
        self.headers = headers  # more response headers (e.g. set-cookie)
        self.cross = b""  # where /cross redirects (another origin: a test sets it)
        self.counts = Counts()
        self._n = itertools.count(1)

    def _settings(self) -> dict[int, int]:
        out = {}
        if self.max_streams is not None:
            out[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = self.max_streams
        if self.window is not None:
            out[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = self.window
        return out

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding=None))
        conn.local_settings = h2.settings.Settings(client=False, initial_values=self._settings())
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        with self._lock:
            self.counts.connections += 1
        state = _Conn(self, conn, writer)
        try:
            while not state.closing:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    events = conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    break
                for event in events:
                    state.on(event)
                writer.write(conn.data_to_send())
            await writer.drain()
        finally:
            writer.close()


class _Conn:
    """One connection's state on the server side."""

    def __init__(self, server: H2Server, conn: h2.connection.H2Connection,
                 writer: asyncio.StreamWriter) -> None:
        self.server, self.conn, self.writer = server, conn, writer
        self.bodies: dict[int, bytearray] = collections.defaultdict(bytearray)
        self.heads: dict[int, dict[bytes, bytes]] = {}
        self.open: set[int] = set()
        self.last: int | None = None  # the GOAWAY's last stream id, once said
        self.closing = False

    def on(self, event: h2.events.Event) -> None:
        counts, lock = self.server.counts, self.server._lock
        if isinstance(event, h2.events.RequestReceived):
            self.open.add(event.stream_id)
            self.heads[event.stream_id] = dict(event.headers)
            with lock:
                counts.max_open = max(counts.max_open, len(self.open))
        elif isinstance(event, h2.events.DataReceived):
            self.bodies[event.stream_id] += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self.open.discard(event.stream_id)
            with lock:
                counts.cancelled_by_client += 1
        elif isinstance(event, h2.events.StreamEnded):
            self.request_ended(event.stream_id)

    def request_ended(self, sid: int) -> None:
        counts, lock = self.server.counts, self.server._lock
        if self.last is not None and sid > self.last:
            with lock:
                counts.refused += 1
            return
        n = next(self.server._n)
        head = self.heads.pop(sid, {})
        with lock:
            counts.requests += 1
            counts.bodies.append(bytes(self.bodies.pop(sid, b"")))
            counts.heads.append(head)
        path = head.get(b":path", b"")
        action = "silent" if path.startswith(b"/silent") else self.server.plan(n)
        if action == "silent":
            return
        self.open.discard(sid)
        if action == "rst":
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
            with lock:
                counts.reset += 1
        elif action == "goaway":
            self.last = sid - 2
            self.conn.close_connection(h2.errors.ErrorCodes.NO_ERROR, last_stream_id=sid - 2)
            self.closing = True
            with lock:
                counts.refused += 1
        elif path.startswith(b"/missing"):
            self.conn.send_headers(sid, [(b":status", b"404")])
            self.conn.send_data(sid, b"not here", end_stream=True)
            with lock:
                counts.answered += 1
        elif path.startswith(b"/cross"):
            self.conn.send_headers(sid, [(b":status", b"307"), (b"location", self.server.cross)],
                                   end_stream=True)
            with lock:
                counts.answered += 1
        elif path.startswith(b"/moved"):
            self.conn.send_headers(sid, [(b":status", b"302"), (b"location", b"/landed"),
                                         (b"set-cookie", b"hop=1; Path=/")], end_stream=True)
            with lock:
                counts.answered += 1
        else:
            body = self.server.body
            self.conn.send_headers(sid, [(b":status", b"200"),
                                         (b"content-length", str(len(body)).encode()),
                                         *self.server.headers])
            self.conn.send_data(sid, body, end_stream=True)
            with lock:
                counts.answered += 1
