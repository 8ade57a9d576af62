"""The transport of a scenario run with ``http2``: every ``user.get/post/...`` request as an
HTTP/2 stream (:class:`~loadnb.transport.h2user.H2Origin`, one per origin the scenario
addresses), WebSocket and SSE on aiohttp (HTTP/1.1).

:meth:`H2ScenarioTransport.request` is what a virtual user calls (``ctx.open``): it returns a
context manager yielding an :class:`H2Response`, which has what the user reads of an aiohttp
response (``status``, ``reason``, ``version``, case-insensitive ``headers`` with ``getall``,
``url``, ``history``, ``read()``). Query ``params``, ``json=`` and ``data=`` bodies are built as
aiohttp builds them (yarl's query encoding, the same Content-Type), redirects are followed as
aiohttp follows them (at most 10; 303, and 301/302 after a POST, become a GET without body;
Authorization, Cookie, Proxy-Authorization and Host are not carried to another origin; a hop to an
origin without h2, or to a non-HTTP URL, goes to aiohttp from that hop on, never the first again).
A request that brings its own ``timeout`` is a stream (SSE, read as it arrives) and goes to
aiohttp, as does every request to an origin that did not offer h2 (after the fall-back warning).
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import urlencode, urljoin

from aiohttp import HttpVersion
from multidict import CIMultiDict
from yarl import URL

from .aio import AiohttpTransport
from .base import Request, TransportOptions
from .h2user import Exchange, FellBack, H2Origin
from .h2wire import GoAway, ProtocolError, StreamReset
from .tls import ConnectTiming

__all__ = ["MAX_REDIRECTS", "H2Response", "H2ScenarioTransport", "TooManyRedirects"]

#: Redirects followed at most (aiohttp's default).
MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Request headers a redirect to another origin does not carry (aiohttp drops the same).
_ORIGIN_BOUND = frozenset({"authorization", "cookie", "proxy-authorization", "host"})


class TooManyRedirects(Exception):
    """More than :data:`MAX_REDIRECTS` redirects in a row."""


class _Midway(Exception):
    """This hop's origin does not speak h2 (it fell back, or the URL is no HTTP one): the hops
    before it (``history``: none for the first) went over HTTP/2; this one, and what follows,
    goes to aiohttp."""

    def __init__(self, method: str, url: URL, headers: dict[str, str], body: bytes,
                 history: list[H2Response]) -> None:
        super().__init__(str(url))
        self.method, self.url, self.headers, self.body = method, url, headers, body
        self.history = tuple(history)


class _Joined:
    """aiohttp's response to the last hops, with the HTTP/2 hops before them in its history."""

    def __init__(self, raw: Any, before: tuple[H2Response, ...]) -> None:
        self._raw, self.history = raw, (*before, *raw.history)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


@dataclass
class H2Response:
    """An HTTP/2 response as a virtual user reads it (the names of aiohttp's)."""

    status: int
    headers: CIMultiDict[str]
    url: URL
    content: bytes
    history: tuple[H2Response, ...] = ()
    version: ClassVar[HttpVersion] = HttpVersion(2, 0)

    @property
    def reason(self) -> str:
        """HTTP/2 has no reason phrase: the status's standard one."""
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    async def read(self) -> bytes:
        return self.content

    @classmethod
    def of(cls, one: Exchange, url: URL) -> H2Response:
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in one.fields:
            if not name.startswith(b":"):
                headers.add(name.decode("latin-1"), value.decode("utf-8", "replace"))
        return cls(one.status, headers, url, one.content)


def _encode_body(headers: dict[str, str], json: Any, data: Any) -> bytes:
    """The request body of ``json=`` or ``data=``, setting Content-Type in ``headers`` as aiohttp
    does when it is not given."""
    if json is not None and data is not None:
        raise ValueError("give either json or data, not both")
    if json is not None:
        body, kind = jsonlib.dumps(json).encode(), "application/json"
    elif data is None:
        return b""
    elif isinstance(data, bytes | bytearray | memoryview):
        body, kind = bytes(data), "application/octet-stream"
    elif isinstance(data, str):
        body, kind = data.encode(), "text/plain; charset=utf-8"
    elif isinstance(data, Mapping | list | tuple):
        body = urlencode(data, doseq=True).encode()
        kind = "application/x-www-form-urlencoded"
    else:
        raise TypeError(f"data= is bytes, text or form fields, got {type(data).__name__}")
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = kind
    return body


class H2ScenarioTransport:
    """Scenarios over HTTP/2 (h2 by ALPN over https, h2c with prior knowledge over http).

    ``protocol`` is the first origin's (None until it connected); ``warnings`` the fall-backs';
    connect and TLS times of every origin's connections: :meth:`take_timings`.
    """

    name = "h2"

    def __init__(self, options: TransportOptions) -> None:
        self.options = replace(options, http2=False)
        self.aio = AiohttpTransport(self.options)  # WebSocket, SSE, the fall-back
        self.origins: dict[str, H2Origin] = {}
        self.warnings: list[str] = []

    @property
    def protocol(self) -> str | None:
        return next((o.protocol for o in self.origins.values()), None)

    @property
    def waiting(self) -> int:
        return self.aio.waiting + sum(o.waiting for o in self.origins.values())

    def origin(self, url: URL) -> H2Origin | None:
        """The HTTP/2 client of ``url``'s origin (None when it is not http(s) or fell back)."""
        if url.scheme not in ("http", "https") or not url.host:
            return None
        key = str(url.origin())
        found = self.origins.get(key)
        if found is None:
            found = H2Origin(replace(self.options, url=key + "/", http2=True, plain=True,
                                     follow_redirects=False))
            found.warnings = self.warnings  # one list: the run reads it as it grows
            self.origins[key] = found
        return None if found.fell_back else found

    def request(self, method: str, url: str,
                **kwargs: Any) -> AbstractAsyncContextManager[Any]:
        """``session.request(...)``'s counterpart over HTTP/2 (see the module's docstring)."""
        target = URL(url)
        if "timeout" in kwargs or self.origin(target) is None:
            return self.aio.request(method, url, **kwargs)
        return self._exchange(method, target, **kwargs)

    @asynccontextmanager
    async def _exchange(self, method: str, url: URL, *, headers: Mapping[str, str] | None = None,
                        params: Any = None, json: Any = None, data: Any = None,
                        allow_redirects: bool = True) -> AsyncIterator[Any]:
        sent = dict(headers or {})
        body = _encode_body(sent, json, data)
        if params:
            url = url.extend_query(params)
        try:
            response = await self._follow(method, url, sent, body, allow_redirects)
        except _Midway as hop:  # from that hop on: never a hop sent before again
            async with self.aio.request(hop.method, str(hop.url), headers=hop.headers,
                                        data=hop.body or None,
                                        allow_redirects=allow_redirects) as raw:
                yield _Joined(raw, hop.history) if hop.history else raw
            return
        yield response

    async def _follow(self, method: str, url: URL, headers: dict[str, str], body: bytes,
                      allow_redirects: bool) -> H2Response:
        history: list[H2Response] = []
        while True:
            origin = self.origin(url)
            try:
                if origin is None:
                    raise FellBack(url.scheme)
                one = await origin.exchange(method, str(url), headers, body)
            except FellBack:  # (raised before anything of this hop was sent)
                raise _Midway(method, url, headers, body, history) from None
            response = H2Response.of(one, url)
            location = response.headers.get("Location")
            if not allow_redirects or response.status not in _REDIRECTS or location is None:
                response.history = tuple(history)
                return response
            history.append(response)
            if len(history) > MAX_REDIRECTS:
                raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects from {history[0].url}")
            if response.status == 303 and method != "HEAD" or (
                    response.status in (301, 302) and method == "POST"):
                method, body = "GET", b""
                headers = {k: v for k, v in headers.items()
                           if k.lower() not in ("content-type", "content-length")}
            was, url = url, URL(urljoin(str(url), location))
            if (url.scheme, url.host, url.port) != (was.scheme, was.host, was.port):
                # credentials stay with their origin
                headers = {k: v for k, v in headers.items() if k.lower() not in _ORIGIN_BOUND}

    def ws_connect(self, url: str, **kwargs: Any) -> Any:
        """A scenario's WebSocket: on aiohttp (HTTP/1.1)."""
        return self.aio.ws_connect(url, **kwargs)

    async def send(self, request: Request) -> tuple[int, int]:
        """One request (the :class:`~loadnb.transport.base.Transport` protocol)."""
        async with self.request(request.method, request.url, headers=request.headers,
                                data=request.body) as response:
            return response.status, len(await response.read())

    def classify(self, exc: BaseException) -> str:
        """``RST_STREAM <code>``, ``GOAWAY <code>``, ``HTTP/2 <code>``; aiohttp's and the
        connection's kinds otherwise."""
        if isinstance(exc, StreamReset | GoAway | ProtocolError):
            return exc.kind
        return self.aio.classify(exc)

    def take_timings(self) -> list[ConnectTiming]:
        """Connect and TLS-handshake times of the HTTP/2 connections opened since the last
        call."""
        return [t for origin in self.origins.values() for t in origin.take_timings()]

    async def aclose(self) -> None:
        for origin in self.origins.values():
            await origin.aclose()
        await self.aio.aclose()
