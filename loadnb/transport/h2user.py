"""HTTP/2 to one origin for scenarios: each request its own method, path, headers and body, each
response kept whole (status, header fields, body), on the HTTP/2 transport's connections.

:class:`H2Origin` is the :class:`~loadnb.transport.h2.H2Transport` (same connections, turns,
streams per connection, timeouts, TLS and connection controls, error kinds) with
:class:`KeptConn` connections: their streams keep the response's header fields (fully decoded)
and body. :meth:`H2Origin.exchange` sends one request and returns the :class:`Exchange`. When the
server does not offer h2 the origin says so (``fell_back``, the warning) and raises
:class:`FellBack`: the caller sends the request over HTTP/1.1 instead.
"""

from __future__ import annotations

import sys

from .base import Driver, TransportOptions
from .h2 import H2Transport
from .h2conn import H2Conn
from .h2streams import Chain, Stream
from .h2wire import encode_stateless, fallback_warning, request_fields, status_of

__all__ = ["Exchange", "FellBack", "H2Origin", "KeptConn", "KeptStream"]


class FellBack(Exception):
    """The server did not offer h2: send this request over HTTP/1.1."""


class KeptStream(Stream):
    """A stream keeping its response: the header fields of its head and the whole body."""

    __slots__ = ("fields",)

    def __init__(self, sid: int, chain: Chain, window: int) -> None:
        super().__init__(sid, chain, window)
        self.sample = bytearray()
        self.cap = sys.maxsize
        self.fields: list[tuple[bytes, bytes]] = []


class Exchange:
    """The :class:`~loadnb.transport.base.Driver` of one request whose response is kept:
    ``status``, ``fields`` (the response head's header fields, pseudo-headers included) and
    ``content`` once it is done, or ``error``."""

    __slots__ = ("left", "status", "fields", "content", "error", "evidence")

    def __init__(self) -> None:
        self.left = True
        self.status = 0
        self.fields: list[tuple[bytes, bytes]] = []
        self.content = b""
        self.error: BaseException | None = None
        self.evidence = ""

    def next(self) -> bool:
        go, self.left = self.left, False
        return go

    def done(self, status: int, nbytes: int, more: bool) -> bool:
        self.status = status
        return False

    def failed(self, exc: BaseException) -> None:
        self.error = exc


class KeptConn(H2Conn):
    """An HTTP/2 connection whose streams keep their responses (:class:`KeptStream`)."""

    stream_class = KeptStream

    def head(self, sid: int, block: bytes) -> int:
        fields = self.headers.fields(block)
        status = status_of(fields)
        st = self.streams.get(sid)
        if status >= 200 and isinstance(st, KeptStream) and st.status < 200:
            st.fields = fields
        return status

    def complete(self, st: Stream, now: float) -> None:
        driver = st.chain.driver
        if isinstance(driver, Exchange) and isinstance(st, KeptStream):
            driver.fields, driver.content = st.fields, bytes(st.sample or b"")
        super().complete(st, now)


class H2Origin(H2Transport):
    """HTTP/2 to the origin of ``options.url`` for requests of every kind (:meth:`exchange`).

    ``fell_back`` is the protocol the server chose instead of h2 (None while it speaks h2)."""

    conn_class = KeptConn

    def __init__(self, options: TransportOptions) -> None:
        super().__init__(options)
        self.fell_back: str | None = None

    async def exchange(self, method: str, url: str, headers: dict[str, str],
                       body: bytes) -> Exchange:
        """Send one request (``url`` on this origin); raises its failure, or :class:`FellBack`."""
        if self.fell_back is not None:
            raise FellBack(self.fell_back)
        block = encode_stateless(request_fields(method, url, headers, body))
        one = Exchange()
        await self.run_chain(one, block, body)
        if one.error is not None:
            raise one.error
        return one

    def _fall_back(self, protocol: str) -> None:
        if self.fell_back is None:
            self.fell_back = protocol
            self.warnings.append(fallback_warning(protocol))

    async def resume(self, driver: Driver) -> None:
        assert self.fell_back is not None
        raise FellBack(self.fell_back)
