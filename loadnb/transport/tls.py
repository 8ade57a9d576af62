"""TLS and connection controls shared by the transports that open their own sockets: the client
TLS context (``insecure``, ``cacert``, ``cert``/``key``, ALPN), curl's ``--connect-to`` DNS
override, and a :class:`Connector` that opens a connection and measures its TCP connect and TLS
handshake separately (:class:`ConnectTiming`, one per connection).

With ``connect_to`` the socket goes to the rule's ``ADDR:PORT`` while SNI, certificate checks and
``Host``/``:authority`` stay the URL's (curl's semantics), so a service can be addressed by its
name while the traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .base import TransportOptions

__all__ = ["ConnectRule", "ConnectTiming", "Connector", "client_context", "parse_connect_to",
           "route"]

P = TypeVar("P", bound=asyncio.BaseProtocol)


@dataclass(frozen=True, slots=True)
class ConnectRule:
    """One ``HOST:PORT:ADDR:PORT`` rule: connections for ``host:port`` (empty host or port: any)
    go to ``addr:to_port`` (empty: unchanged)."""

    host: str
    port: int | None
    addr: str
    to_port: int | None


def _split(text: str) -> list[str]:
    """``a:b:[::1]:d`` -> ``['a', 'b', '::1', 'd']`` (brackets hold IPv6 colons)."""
    parts, cur, depth = [], "", 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ":" and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return [p[1:-1] if p.startswith("[") and p.endswith("]") else p for p in parts]


def _port(text: str, whole: str) -> int | None:
    if text == "":
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"connect_to: {text!r} is not a port (1-65535) in {whole!r}; "
                         "the form is HOST:PORT:ADDR:PORT, e.g. example.com:443:127.0.0.1:8443")
    return int(text)


def parse_connect_to(text: str) -> ConnectRule:
    """Parse curl's ``HOST:PORT:ADDR:PORT``; raises ValueError with a one-line message."""
    parts = _split(text.strip())
    if len(parts) != 4 or text.count("[") != text.count("]"):
        raise ValueError(f"connect_to must be HOST:PORT:ADDR:PORT (curl's --connect-to), e.g. "
                         f"example.com:443:127.0.0.1:8443; got {text!r}")
    host, port, addr, to_port = parts
    return ConnectRule(host.lower(), _port(port, text), addr, _port(to_port, text))


def route(host: str, port: int, rules: Sequence[ConnectRule]) -> tuple[str, int]:
    """Where a connection for ``host:port`` goes: the first matching rule's address, else the
    URL's own."""
    for rule in rules:
        if rule.host in ("", host.lower()) and rule.port in (None, port):
            return rule.addr or host, rule.to_port or port
    return host, port


def client_context(options: TransportOptions, alpn: Sequence[str] = ()) -> ssl.SSLContext:
    """The client TLS context of ``options``: verified against the system's CAs, or ``cacert``
    instead; nothing verified with ``insecure``; ``cert``/``key`` as the client certificate.
    A file that cannot be used is a ValueError naming it."""
    try:
        ctx = ssl.create_default_context(cafile=options.cacert)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cacert: cannot use {options.cacert!r}: {exc}") from exc
    if options.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if options.cert is not None:
        try:
            ctx.load_cert_chain(options.cert, options.key)
        except (OSError, ssl.SSLError) as exc:
            files = options.cert if options.key is None else f"{options.cert}, {options.key}"
            raise ValueError(f"cert/key: cannot use {files!r}: {exc}") from exc
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


@dataclass(frozen=True, slots=True)
class ConnectTiming:
    """One connection's set-up: TCP connect and TLS handshake in seconds (0.0 in cleartext), and
    the protocol it speaks (``h2``, ``h2c``, ``http/1.1``)."""

    connect: float
    tls: float
    protocol: str


class Connector:
    """Opens connections to the origin of ``options`` (through ``connect_to``), with TLS when the
    URL is https (offering ``alpn``), and keeps a :class:`ConnectTiming` per connection opened.

    ``cleartext`` is the protocol a cleartext connection speaks (``h2c`` or ``http/1.1``).
    """

    def __init__(self, options: TransportOptions, alpn: Sequence[str] = ("http/1.1",),
                 cleartext: str = "http/1.1") -> None:
        parts = urlsplit(options.url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        rules = [parse_connect_to(text) for text in options.connect_to]
        self.addr, self.addr_port = route(self.host, self.port, rules)
        self.ssl = client_context(options, alpn) if parts.scheme == "https" else None
        self.cleartext = cleartext
        #: The connections opened since the last take_timings(), in order (taken at each tick:
        #: a run without keep-alive opens one per request).
        self.timings: list[ConnectTiming] = []

    def take_timings(self) -> list[ConnectTiming]:
        """The timings of the connections opened since the last call."""
        new, self.timings = self.timings, []
        return new

    async def _socket(self, loop: asyncio.AbstractEventLoop) -> socket.socket:
        """A connected, non-blocking TCP socket to the address: an IP address as it is, a name
        resolved and its addresses tried in order (as ``loop.create_connection`` does)."""
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(self.addr).version == 6 \
                else socket.AF_INET
            targets: list[tuple[Any, Any]] = [(family, (self.addr, self.addr_port))]
        except ValueError:
            infos = await loop.getaddrinfo(self.addr, self.addr_port, type=socket.SOCK_STREAM)
            if not infos:
                raise OSError(f"no address for {self.addr!r}") from None
            targets = [(info[0], info[4]) for info in infos]
        error: OSError | None = None
        for family, sockaddr in targets:
            try:
                return await _connected(loop, family, sockaddr)
            except OSError as exc:
                error = exc
        assert error is not None
        raise error

    async def connect(self, factory: Callable[[], P],
                      timeout: float) -> tuple[asyncio.Transport, P, ConnectTiming]:
        """Open one connection within ``timeout`` seconds; raise TimeoutError past it."""
        return await asyncio.wait_for(self._connect(factory), max(0.0, timeout))

    async def _connect(self, factory: Callable[[], P]
                       ) -> tuple[asyncio.Transport, P, ConnectTiming]:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        sock = await self._socket(loop)
        t1 = time.perf_counter()
        try:
            transport, protocol = await loop.create_connection(
                factory, sock=sock, ssl=self.ssl,
                server_hostname=self.host if self.ssl is not None else None)
        except BaseException:
            sock.close()
            raise
        t2 = time.perf_counter()
        protocol_name = self.cleartext
        if self.ssl is not None:
            sslobj = transport.get_extra_info("ssl_object")
            alpn = sslobj.selected_alpn_protocol() if sslobj is not None else None
            protocol_name = alpn or "http/1.1"
        timing = ConnectTiming(t1 - t0, t2 - t1 if self.ssl is not None else 0.0, protocol_name)
        self.timings.append(timing)
        return transport, protocol, timing


async def _connected(loop: asyncio.AbstractEventLoop, family: Any,
                     sockaddr: Any) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock
