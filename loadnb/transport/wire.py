"""HTTP/1.1 on the wire for the fast transport: the request's bytes, response-head limits, the
failures a response can have, and a slow-path scan of a kept head (llhttp via httptools)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httptools

from .._version import __version__
from .base import TransportOptions

#: Limits on a response head, as aiohttp's (max_line_size / max_field_size 8190): a server
#: that never ends its head must not grow the client's memory until the timeout.
MAX_FIELD_BYTES = 8190
MAX_HEAD_BYTES = 64 * 1024


class InvalidResponse(Exception):
    """The server sent bytes that are not a valid HTTP response."""


class IncompleteBody(Exception):
    """The connection closed before the whole body arrived."""


class ServerDisconnected(ConnectionResetError):
    """The connection closed before any response arrived."""


def fast_supported(options: TransportOptions) -> str | None:
    """None when the fast transport can run ``options``; otherwise the reason it cannot."""
    if options.follow_redirects:
        return "redirects are followed"
    if options.method == "HEAD":
        return "HEAD requests"
    return None


def serialise(options: TransportOptions) -> bytes:
    """The request's bytes, built once: request line, Host, User-Agent, user headers, body."""
    parts = urlsplit(options.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port not in (None, default_port):
        host = f"{host}:{parts.port}"
    given = {k.lower() for k in options.headers}
    lines = [f"{options.method} {target} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {host}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: loadnb/{__version__}")
    lines += [f"{k}: {v}" for k, v in options.headers.items()]
    if "accept" not in given:
        lines.append("Accept: */*")
    body = options.body or b""
    if "content-length" not in given and (body or options.method not in ("GET", "OPTIONS")):
        lines.append(f"Content-Length: {len(body)}")
    if body and "content-type" not in given:
        lines.append("Content-Type: application/octet-stream")
    if not options.keepalive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _HeadScan:
    """Collects the header fields of a response head (used only on rare paths), and whether a
    final (not 1xx) head is complete."""

    def __init__(self) -> None:
        self.fields: list[tuple[bytes, bytes]] = []
        self.parser = httptools.HttpResponseParser(self)
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name, value))

    def on_headers_complete(self) -> None:
        if self.parser.get_status_code() >= 200:
            self.complete = True


def _scan(chunks: list[bytes]) -> _HeadScan:
    scan = _HeadScan()
    try:
        for chunk in chunks:
            scan.parser.feed_data(chunk)
    except httptools.HttpParserError:
        pass
    return scan


def scan_headers(chunks: list[bytes]) -> list[tuple[bytes, bytes]]:
    """The header fields in the received bytes ``chunks`` (interim 1xx heads included)."""
    return _scan(chunks).fields


def head_complete(chunks: list[bytes]) -> bool:
    """Whether the received bytes ``chunks`` hold a whole final (not 1xx) response head."""
    return _scan(chunks).complete


def framed(chunks: list[bytes]) -> bool:
    """Whether the response declares its body's end (Content-Length or chunked)."""
    return any(k.lower() == b"content-length" or (k.lower() == b"transfer-encoding"
                                                 and b"chunked" in v.lower())
               for k, v in scan_headers(chunks))


__all__ = ["MAX_FIELD_BYTES", "MAX_HEAD_BYTES", "IncompleteBody", "InvalidResponse",
           "ServerDisconnected", "fast_supported", "framed", "head_complete", "scan_headers",
           "serialise"]
