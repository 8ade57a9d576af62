"""The seam between the engine and the wire, and the stable set of error kinds."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class ErrorKind:
    """The stable, readable names failures are counted under (see design.md, Semantics)."""

    TIMEOUT = "timeout"
    REFUSED = "connection refused"
    RESET = "connection reset"
    INVALID = "invalid HTTP response"
    INCOMPLETE = "incomplete body"
    TLS = "TLS error"
    DNS = "DNS error"

    @staticmethod
    def http(status: int) -> str:
        """``HTTP 503``: a response whose status counts as a failure."""
        return f"HTTP {status}"

    @staticmethod
    def exception(exc: BaseException) -> str:
        """``exception: KeyError``: anything else, named by its type."""
        return f"exception: {type(exc).__name__}"


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What a transport needs to know of a run, and nothing more (a small, picklable value).

    ``url``/``method``/``headers``/``body`` are the request of a target-URL test (a scenario's
    base URL otherwise); ``pool_limit`` caps the pool (None: the load bounds it); ``kind`` is the
    transport asked for (``auto``, ``fast``, ``aiohttp``); ``plain`` says the run sends one
    prepared request (a target-URL test) rather than a scenario's requests.
    Build it with ``LoadSpec.transport_options()``.

    Protocol and connection controls: ``http2`` (h2 by ALPN over https, h2c with prior knowledge
    over http), ``streams`` (concurrent streams per HTTP/2 connection; ``pool_limit`` is then the
    number of connections), ``cacert`` (CA file to verify with), ``cert``/``key`` (client
    certificate), ``connect_to`` (curl's ``HOST:PORT:ADDR:PORT`` rules).
    """

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = 10.0
    keepalive: bool = True
    insecure: bool = False
    follow_redirects: bool = False
    pool_limit: int | None = None
    kind: str = "auto"
    plain: bool = True
    http2: bool = False
    streams: int = 10
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    connect_to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """One prepared request: built once per run for target-URL tests."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    @classmethod
    def of(cls, options: TransportOptions) -> Request:
        """The request a target-URL run sends on every iteration."""
        return cls(options.method, options.url, dict(options.headers), options.body)


class Transport(Protocol):
    """Sends requests and reads whole responses; one instance (one pool) per run.

    ``send`` returns ``(status, body_bytes)`` once the last byte of the body is in, and raises on
    failure; ``classify`` names the failure with an :class:`ErrorKind`. ``waiting`` is the number
    of requests waiting for a free connection right now.
    """

    name: str

    @property
    def waiting(self) -> int: ...

    async def send(self, request: Request) -> tuple[int, int]: ...

    def classify(self, exc: BaseException) -> str: ...

    async def aclose(self) -> None: ...


class Driver(Protocol):
    """Says, from inside a transport's I/O callbacks, whether to send the next request and what
    became of each one: a chain of requests with no task, coroutine or future per request.

    ``next`` is asked before a request and counts it as started when it answers True; once it
    has answered False it keeps answering False. Every request started ends in exactly one
    ``done`` (a response: status, body bytes) or ``failed`` (no usable response), unless the chain
    is cancelled, which leaves it for the recorder to settle as cancelled. When the connection can
    take another request (``more``), ``done`` also answers as ``next`` would, so the next request
    leaves at once on the same connection.
    """

    def next(self) -> bool: ...

    def done(self, status: int, nbytes: int, more: bool) -> bool: ...

    def failed(self, exc: BaseException) -> None: ...


@runtime_checkable
class Chaining(Protocol):
    """A transport that can drive a chain of requests (the fast transport's closed model)."""

    async def drive(self, driver: Driver) -> None: ...


class Tally(Protocol):
    """Where a lane counts the common response itself, with no call: one whose status is
    ``ok_code`` is ``ok_n += 1``, ``bytes += nbytes``, its response time (from when it was due)
    appended to ``latency`` and its service time (from its send) to ``service``. (The engine's
    per-name accumulator; ``ok_code`` -1: every response goes to ``Arrivals.done``.)"""

    ok_code: int
    ok_n: int
    bytes: int
    latency: array[float]
    service: array[float]


class Arrivals(Protocol):
    """The engine's side of an open-model :class:`OpenLane`: its clock, and what became of each
    arrival it sent. Times are ``clock()`` readings: ``intended`` when the arrival was due,
    ``sent`` when its request was written, ``now`` when its response was complete.

    Every arrival sent ends in exactly one ``done`` or ``failed`` (or is counted in ``tally``),
    unless the lane is closed first (the recorder settles it as cancelled). ``lags`` receives
    ``sent - intended`` of every request written (the send lag).
    """

    clock: Callable[[], float]
    lags: array[float]

    @property
    def tally(self) -> Tally: ...

    def done(self, intended: float, sent: float, now: float, status: int, nbytes: int) -> None:
        """A response."""

    def evidence(self, status: int, text: str) -> None:
        """The status line and first body bytes of the response to a status >= 400 just
        reported (kept as its sample when the status counts as a failure)."""

    def failed(self, intended: float, exc: BaseException) -> None:
        """No usable response: a connection that failed, a timeout, no free connection."""


class OpenLane(Protocol):
    """An open model with no task per arrival: each arrival is written at once into an idle
    connection, else waits (first come, first served) for one that frees or opens; the callback
    that completes a response writes the next waiting arrival. ``in_flight`` counts arrivals sent
    and waiting (the engine's ``max_in_flight``)."""

    in_flight: int
    #: when the next arrivals are due (the arrivals' clock; inf: none): a response that ends at
    #: or after it calls ``pace()``, the engine's pacer, which sends them
    due_at: float
    pace: Callable[[], None] | None

    def send(self, intendeds: list[float]) -> None:
        """Send arrivals due at ``intendeds`` (in order), admitted and counted as started by the
        caller: the arrivals one wake-up of the pacer found due."""

    async def warm(self, rate: float) -> None:
        """Open connections for the first arrivals (at ``rate`` a second) before the load
        starts (failures ignored: the arrivals meet them)."""

    async def drain(self, timeout: float) -> None:
        """Return once nothing is in flight, or after ``timeout`` seconds."""

    def close(self) -> None:
        """Abort everything in flight, unreported (the end of the grace, a stop)."""

    async def aclose(self) -> None:
        """:meth:`close`, then wait until nothing of the lane runs any more."""


@runtime_checkable
class Laning(Protocol):
    """A transport that can run the open model as an :class:`OpenLane` (the fast transport)."""

    def lane(self, arrivals: Arrivals) -> OpenLane: ...


def no_free_connection(fut: asyncio.Future[Any]) -> None:
    """Give up a wait for a pooled connection that reached the request's deadline (a timer
    callback of both transports' pool queues)."""
    if not fut.done():
        fut.set_exception(TimeoutError("no free connection before the timeout"))


_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ESHUTDOWN})


def classify_os_error(exc: BaseException) -> str:
    """The error kind of a plain Python/OS exception (transports add their own types first)."""
    if isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(exc, socket.gaierror):
        return ErrorKind.DNS
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ErrorKind.TLS
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.REFUSED
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return ErrorKind.RESET
    if isinstance(exc, OSError):
        code = exc.errno
        if code == errno.ECONNREFUSED:
            return ErrorKind.REFUSED
        if code in _RESET_ERRNOS:
            return ErrorKind.RESET
        if code == errno.ETIMEDOUT:
            return ErrorKind.TIMEOUT
    return ErrorKind.exception(exc)


__all__ = ["Arrivals", "Chaining", "Driver", "ErrorKind", "Laning", "OpenLane", "Request", "Tally",
           "Transport", "TransportOptions", "classify_os_error", "no_free_connection"]
