"""The aiohttp transport: full HTTP features, one keep-alive pool per run, no hidden retries."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NoReturn

import aiohttp
import aiohttp.abc
from aiohttp.abc import ResolveResult

from .._version import __version__
from .base import ErrorKind, Request, TransportOptions, classify_os_error
from .pool import FifoPool
from .tls import client_context, parse_connect_to, route

_CHUNK = 1 << 16
#: Bytes of a failing response's body kept as its error sample.
SAMPLE_BYTES = 200
_RESET_IN_MESSAGE = re.compile(
    r"\b(?:ConnectionResetError|BrokenPipeError|ConnectionAbortedError)\(")


class _ConnectTo(aiohttp.abc.AbstractResolver):
    """curl's ``--connect-to`` for aiohttp: a host:port that a rule matches resolves to the
    rule's address; SNI and the certificate check keep the URL's host (``hostname``)."""

    def __init__(self, rules: tuple[str, ...]) -> None:
        self.rules = [parse_connect_to(rule) for rule in rules]
        self.inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addr, to_port = route(host, port, self.rules)
        if (addr, to_port) == (host, port):
            return await self.inner.resolve(host, port, family)
        try:
            version = ipaddress.ip_address(addr).version
        except ValueError:  # a name: resolve it, keep the URL's host for TLS
            found = await self.inner.resolve(addr, to_port, family)
            return [{**r, "hostname": host} for r in found]
        return [{"hostname": host, "host": addr, "port": to_port, "proto": 0,
                 "family": socket.AF_INET6 if version == 6 else socket.AF_INET,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        await self.inner.close()


def make_session(options: TransportOptions) -> aiohttp.ClientSession:
    """An aiohttp session configured as a load tester needs it.

    - one pool, capped at ``options.pool_limit`` connections if set, keep-alive unless turned off;
    - TLS verified unless ``insecure`` (against ``cacert`` if given; ``cert``/``key`` as the
      client certificate); ``connect_to`` rules applied by the resolver;
    - bodies not decompressed, no ``Accept-Encoding`` unless the user gives one (every transport
      sends the same request and counts the same bytes);
    - aiohttp's silent retry of an idempotent request on a failed keep-alive connection is turned
      off: the server would see two requests where we count one (aio-libs/aiohttp#10790).
    """
    connector = aiohttp.TCPConnector(
        limit=options.pool_limit or 0, limit_per_host=0, force_close=not options.keepalive,
        ssl=client_context(options) if options.cacert or options.cert else not options.insecure,
        enable_cleanup_closed=False,
        resolver=_ConnectTo(options.connect_to) if options.connect_to else None,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=options.timeout),
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding", "User-Agent"),
        headers={"User-Agent": f"loadnb/{__version__}"},
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


class AiohttpTransport(FifoPool[NoReturn]):
    """Sends :class:`Request` objects through one aiohttp session.

    With a capped pool (``connections=``) requests take turns first come, first served, and the
    wait counts toward their timeout, as on the fast transport: aiohttp's own queue lets a task
    that just released a connection take it again ahead of those waiting, which starves them.
    A turn is a slot of the :class:`FifoPool` (which never holds items here).
    """

    name = "aiohttp"

    def __init__(self, options: TransportOptions) -> None:
        super().__init__(math.inf if options.pool_limit is None else options.pool_limit)
        self._options = options
        self._session = make_session(options)
        #: the evidence of the first response of each failing status (>= 400): status line and
        #: the first :data:`SAMPLE_BYTES` of its body
        self.samples: dict[int, str] = {}

    def request(self, method: str, url: str,
                **kwargs: Any) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """``session.request(...)``, in the pool's turn when it is capped (scenarios send
        through this too)."""
        if self.limit == math.inf:
            return self._session.request(method, url, **kwargs)
        return self._in_turn(method, url, **kwargs)

    def ws_connect(self, url: str, **kwargs: Any) -> Any:
        """``session.ws_connect(...)``: a scenario's WebSocket, on the run's session."""
        return self._session.ws_connect(url, **kwargs)

    @asynccontextmanager
    async def _in_turn(self, method: str, url: str,
                       **kwargs: Any) -> AsyncIterator[aiohttp.ClientResponse]:
        timeout = self._options.timeout
        start = time.monotonic()
        await self.acquire(start + timeout)
        try:
            left = max(1e-3, timeout - (time.monotonic() - start))
            kwargs.setdefault("timeout", aiohttp.ClientTimeout(left))  # a stream sets its own
            async with self._session.request(method, url, **kwargs) as resp:
                yield resp
        finally:
            self.release_slot()

    async def send(self, request: Request) -> tuple[int, int]:
        """Send and read the whole body; return ``(status, body_bytes)``."""
        async with self.request(request.method, request.url, headers=request.headers,
                                data=request.body,
                                allow_redirects=self._options.follow_redirects) as resp:
            nbytes = 0
            status = resp.status
            if status >= 400 and status not in self.samples:  # failures only, once per status
                chunk = await resp.content.read(_CHUNK)
                nbytes += len(chunk)
                self.samples[status] = evidence(status, resp.reason, chunk)
            while chunk := await resp.content.read(_CHUNK):
                nbytes += len(chunk)
            return status, nbytes

    def classify(self, exc: BaseException) -> str:
        """The :class:`ErrorKind` of an exception raised by :meth:`send`."""
        return _classify_aiohttp(exc)

    async def aclose(self) -> None:
        """Close the pool (and every connection in it)."""
        await self._session.close()


def evidence(status: int, reason: str | None, body: bytes) -> str:
    """``HTTP/1.1 503 Service Unavailable`` and the body's first bytes (a failure's sample)."""
    return (f"HTTP/1.1 {status} {reason or ''}".rstrip() + "\n"
            + body[:SAMPLE_BYTES].decode("utf-8", "replace"))


def _classify_aiohttp(exc: BaseException) -> str:
    """Name an aiohttp failure with a stable :class:`ErrorKind`."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ErrorKind.DNS
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError):
        return ErrorKind.TLS
    if isinstance(exc, aiohttp.ClientConnectorError):
        return classify_os_error(exc.os_error)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ErrorKind.RESET
    if isinstance(exc, aiohttp.ClientPayloadError):
        # aiohttp keeps the OS error that cut the body only in the message (client_proto.py,
        # connection_lost: "Response payload is not completed: <…>. ConnectionResetError(104, …)")
        return ErrorKind.RESET if _RESET_IN_MESSAGE.search(str(exc)) else ErrorKind.INCOMPLETE
    if isinstance(exc, aiohttp.ClientResponseError):
        return ErrorKind.INVALID
    if isinstance(exc, aiohttp.ClientOSError):
        return classify_os_error(exc)
    return classify_os_error(exc)


__all__ = ["AiohttpTransport", "evidence", "make_session"]
