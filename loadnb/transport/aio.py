"""The aiohttp transport: full HTTP features, one keep-alive pool per run, no hidden retries."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from .._version import __version__
from ..config import LoadSpec
from .base import ErrorKind, Request, classify_os_error

_CHUNK = 1 << 16
_RESET_IN_MESSAGE = re.compile(
    r"\b(?:ConnectionResetError|BrokenPipeError|ConnectionAbortedError)\(")


def make_session(spec: LoadSpec,
                 trace_configs: list[aiohttp.TraceConfig] | None = None) -> aiohttp.ClientSession:
    """An aiohttp session configured as a load tester needs it.

    - one pool, capped at ``spec.pool_limit`` connections if set, keep-alive unless turned off;
    - TLS verified unless ``insecure``; bodies not decompressed, no ``Accept-Encoding`` unless the
      user gives one (every transport sends the same request and counts the same bytes);
    - aiohttp's silent retry of an idempotent request on a failed keep-alive connection is turned
      off: the server would see two requests where we count one (aio-libs/aiohttp#10790).
    """
    connector = aiohttp.TCPConnector(
        limit=spec.pool_limit or 0, limit_per_host=0, force_close=not spec.keepalive,
        ssl=False if spec.insecure else True, enable_cleanup_closed=False,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=spec.timeout),
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding", "User-Agent"),
        headers={"User-Agent": f"loadnb/{__version__}"},
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
        trace_configs=trace_configs,
    )
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


class AiohttpTransport:
    """Sends :class:`Request` objects through one aiohttp session."""

    name = "aiohttp"

    def __init__(self, spec: LoadSpec) -> None:
        self._spec = spec
        self.waiting = 0
        concurrency = spec.users if spec.rate is None else spec.max_in_flight
        limit = spec.pool_limit
        traces = [self._queue_trace()] if limit is not None and limit < concurrency else None
        self._session = make_session(spec, traces)

    def _queue_trace(self) -> aiohttp.TraceConfig:
        """Count requests waiting for a free pooled connection (only when the pool is smaller
        than the load's concurrency: tracing costs a little on every request)."""
        async def queued(*_: object) -> None:
            self.waiting += 1

        async def dequeued(*_: object) -> None:
            self.waiting -= 1

        trace = aiohttp.TraceConfig()
        trace.on_connection_queued_start.append(queued)
        trace.on_connection_queued_end.append(dequeued)
        return trace

    @property
    def session(self) -> aiohttp.ClientSession:
        """The underlying session (scenarios use it through the recording client)."""
        return self._session

    async def send(self, request: Request) -> tuple[int, int]:
        """Send and read the whole body; return ``(status, body_bytes)``."""
        async with self._session.request(
            request.method, request.url, headers=request.headers, data=request.body,
            allow_redirects=self._spec.follow_redirects,
        ) as resp:
            nbytes = 0
            while chunk := await resp.content.read(_CHUNK):
                nbytes += len(chunk)
            return resp.status, nbytes

    def classify(self, exc: BaseException) -> str:
        """The :class:`ErrorKind` of an exception raised by :meth:`send`."""
        return classify_aiohttp(exc)

    async def aclose(self) -> None:
        """Close the pool (and every connection in it)."""
        await self._session.close()


def classify_aiohttp(exc: BaseException) -> str:
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
