"""The virtual user a scenario receives: a recording HTTP client with checks and its own state."""

from __future__ import annotations

import asyncio
import json as jsonlib
import traceback
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

from ..metrics.custom import CustomAccumulator
from ..metrics.stats import NameStats, Recorder
from ..observe.trace import TraceContext
from .cookies import CookieJar
from .sse import Event
from .tracing import Tracing

if TYPE_CHECKING:  # (a fast-transport run never imports aiohttp)
    import aiohttp

    from .streams import WebSocket

Check = Callable[["Response"], object]
#: Bytes of a response body kept as an error's sample (redacted, capped).
SAMPLE_BYTES = 200


class UserContext(Protocol):
    """What a virtual user needs from the engine (one per run)."""

    base_url: str
    headers: Mapping[str, str]
    follow_redirects: bool

    def open(self, method: str, url: str,
             **kwargs: Any) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """``session.request(...)`` on the run's pool, in its turn when the pool is capped."""
        ...

    #: The run's recorder (custom metrics are recorded into it: :meth:`Recorder.custom_for`).
    recorder: Recorder

    def stats_for(self, name: str) -> NameStats: ...

    def begin_request(self) -> bool:
        """Whether a request may start now (counted as started when it may)."""
        ...

    def classify(self, exc: BaseException) -> str:
        """The error kind of a failed request."""
        ...

    def clock(self) -> float: ...

    #: trace context (``trace=True``), else None
    tracing: Tracing | None

    def ws_connect(self, url: str, **kwargs: Any) -> Any:
        """``session.ws_connect(...)`` on the run's session (a scenario's WebSocket)."""
        ...


class BudgetExhausted(BaseException):
    """The run's request budget is spent: the iteration ends without counting anything more."""


@dataclass
class Response:
    """A response as a scenario sees it (the body is read whole).

    ``ok`` is False when the request failed (``error`` names the kind, ``status`` is 0) or a check
    failed (``error`` is ``check failed: …``).
    """

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    elapsed: float
    error: str | None = None
    _json: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the request counted as completed (status and checks passed)."""
        return self.error is None

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (replacing invalid bytes)."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` if it is not JSON)."""
        if self._json is None:
            self._json = jsonlib.loads(self.content)
        return self._json


def _check_name(check: Check, label: Callable[[object], str] | None = None) -> str:
    """A check's name: its function's, or for a lambda ``check N`` (``label``: by the order the
    run first saw its code; ``check`` without one)."""
    name = getattr(check, "__name__", "check")
    if name == "<lambda>":
        return label(getattr(check, "__code__", check)) if label is not None else "check"
    return str(name)


def _check_parts(check: Check | tuple[str, Check] | None, check_name: str | None,
                label: Callable[[object], str] | None = None) -> tuple[str | None, Check | None]:
    """``(name, predicate)`` of ``check=`` (a predicate or a ``(name, predicate)`` tuple) and
    ``check_name=``."""
    if check is None:
        return None, None
    if isinstance(check, tuple):
        name, fn = check
        return str(check_name or name), fn
    return check_name or _check_name(check, label), check


def _run_checks(resp: Response, expect_status: int | tuple[int, ...] | None,
               check: Check | None, expect_json: Mapping[str, Any] | None,
               check_name: str | None = None, acc: NameStats | None = None) -> str | None:
    """The failure kind of the first failing check, or None when all pass.

    The named check (``check``, called ``check_name``) is counted on ``acc`` (passes and
    fails); one that raises fails as ``check raised: <Type>`` with the traceback as the
    sample, and a failed one keeps the response's first bytes as its sample."""
    if expect_status is not None:
        wanted = (expect_status,) if isinstance(expect_status, int) else tuple(expect_status)
        if resp.status not in wanted:
            return f"HTTP {resp.status}"
    elif resp.status >= 400:
        return f"HTTP {resp.status}"
    if expect_json:
        try:
            body = resp.json()
        except ValueError:
            return "check failed: body is JSON"
        for key, want in expect_json.items():
            got = body.get(key) if isinstance(body, dict) else None
            passed = want(got) if callable(want) else got == want
            if not passed:
                return f"check failed: json {key}"
    if check is not None:
        name = check_name or _check_name(check)
        try:
            passed = bool(check(resp))
        except Exception as exc:  # noqa: BLE001 - a check that raises is a failed check
            if acc is not None:
                acc.check(name, False)
                acc.sample(f"check raised: {type(exc).__name__}",
                           "".join(traceback.format_exception(exc))[-SAMPLE_BYTES * 10:])
            return f"check raised: {type(exc).__name__}"
        if acc is not None:
            acc.check(name, passed)
        if not passed:
            if acc is not None:
                acc.sample(f"check failed: {name}", f"HTTP {resp.status}: "
                           + resp.content[:SAMPLE_BYTES].decode("utf-8", "replace"))
            return f"check failed: {name}"
    return None


class Timer:
    """``async with user.timer(name):`` (or ``with``): records the seconds from entry to exit
    as a timing, also when the block raises."""

    __slots__ = ("_acc", "_clock", "_start")

    def __init__(self, acc: CustomAccumulator, clock: Callable[[], float]) -> None:
        self._acc, self._clock, self._start = acc, clock, 0.0

    def __enter__(self) -> Timer:
        self._start = self._clock()
        return self

    def __exit__(self, *exc: object) -> None:
        self._acc.values.append(self._clock() - self._start)

    async def __aenter__(self) -> Timer:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()


class VirtualUser:
    """One simulated user: records every request, keeps its cookies and ``state`` across
    iterations (closed model), and gets ``data`` (a row of the run's data) per iteration.

    Cookies live in :attr:`jar` (a :class:`~loadnb.engine.cookies.CookieJar`: Domain, Path, Expires,
    Max-Age and Secure honoured); a request carries only those matching its URL.

    Custom metrics (per interval in ``Result.custom``, over the run in ``summary["custom"]``):
    :meth:`count` (a counter), :meth:`gauge`, :meth:`timer` / :meth:`timing` (durations). A name
    keeps the kind it was first used with: using it with another raises ``ValueError``.
    """

    def __init__(self, ctx: UserContext, index: int) -> None:
        self.index = index
        self.state: dict[str, Any] = {}
        self.jar = CookieJar()
        self.data: Any = None
        self.iteration = 0
        self.requests = 0  # requests this user sent (an iteration that sent none yields)
        self.trace: TraceContext | None = None  # this iteration's (trace=True)
        self._ctx = ctx
        self._intended: float | None = None
        self._custom = ctx.recorder.custom  # the run's accumulators, looked up by name

    # -- custom metrics (one dict lookup and an in-place update each) ------------------------
    def _metric(self, name: str, kind: str) -> CustomAccumulator:
        acc = self._custom.get(name)
        if acc is None or acc.kind != kind:
            acc = self._ctx.recorder.custom_for(name, kind)
        return acc

    def count(self, name: str, value: float = 1) -> None:
        """Add ``value`` (default 1) to the counter ``name``."""
        acc = self._custom.get(name)
        if acc is None or acc.kind != "counter":
            acc = self._ctx.recorder.custom_for(name, "counter")
        acc.count += 1
        acc.total += value

    def gauge(self, name: str, value: float) -> None:
        """Set the gauge ``name`` to ``value`` (the interval keeps the last, min and max)."""
        acc = self._custom.get(name)
        if acc is None or acc.kind != "gauge":
            acc = self._ctx.recorder.custom_for(name, "gauge")
        acc.set(float(value))

    def timing(self, name: str, seconds: float) -> None:
        """Record a duration of ``seconds`` (measured by the caller) under the timing ``name``."""
        acc = self._custom.get(name)
        if acc is None or acc.kind != "timing":
            acc = self._ctx.recorder.custom_for(name, "timing")
        acc.values.append(seconds)

    def timer(self, name: str) -> Timer:
        """``async with user.timer("checkout"): ...``: the block's duration in seconds as the
        timing ``name`` (recorded also when the block raises)."""
        return Timer(self._metric(name, "timing"), self._ctx.clock)

    @property
    def cookies(self) -> Mapping[str, str]:
        """The cookies this user holds now, ``name -> value`` (read-only; :attr:`jar` keeps
        them)."""
        return self.jar.as_dict()

    async def sleep(self, seconds: float) -> None:
        """Think time inside a journey."""
        await asyncio.sleep(seconds)

    async def request(self, method: str, url: str, *, name: str | None = None,
                      headers: Mapping[str, str] | None = None, params: Any = None,
                      json: Any = None, data: Any = None,
                      expect_status: int | tuple[int, ...] | None = None,
                      check: Check | tuple[str, Check] | None = None,
                      check_name: str | None = None,
                      expect_json: Mapping[str, Any] | None = None) -> Response:
        """Send one request, record it under ``name`` and return the :class:`Response`.

        ``expect_status`` (default: any status < 400), ``check`` (a predicate on the response)
        and ``expect_json`` (field → value or predicate) decide whether it counts as completed.
        ``check=("has items", fn)`` or ``check_name=`` names the check (a lambda is otherwise
        ``check 1``, ``check 2``… by the order the run first saw it); its passes and fails are
        counted (``summary["checks"]``).
        A transport failure does not raise: the response has ``status`` 0 and ``error`` set.
        """
        ctx = self._ctx
        full = urljoin(ctx.base_url, url) if ctx.base_url else url
        acc = ctx.stats_for(name or f"{method.upper()} {urlsplit(full).path or '/'}")
        if not ctx.begin_request():
            raise BudgetExhausted
        acc.started += 1
        self.requests += 1
        sent = ctx.clock()
        start = sent if self._intended is None else self._intended
        self._intended = None
        send_headers = {**ctx.headers, **(headers or {})}
        cookie = self.jar.header_for(full)
        if cookie is not None:
            send_headers["Cookie"] = cookie
        trace, tracing = self.trace, ctx.tracing
        if trace is not None and tracing is not None:
            send_headers.update(tracing.headers(trace))
        try:
            async with ctx.open(method.upper(), full, headers=send_headers, params=params,
                                json=json, data=data,
                                allow_redirects=ctx.follow_redirects) as raw:
                content = await raw.read()
                self._keep_cookies(raw)
                resp = Response(raw.status, raw.headers.copy(), content, full, 0.0)
                v = raw.version  # the evidence's status line says which HTTP it was
                line = (f"HTTP/{f'{v.major}.{v.minor}' if v else '1.1'} {raw.status} "
                        f"{raw.reason or ''}")
        except Exception as exc:  # noqa: BLE001 - every failure of the target is counted
            kind = ctx.classify(exc)
            acc.error(kind, f"{type(exc).__name__}: {exc}")
            return Response(0, {}, b"", full, ctx.clock() - sent, error=kind)
        done = ctx.clock()
        resp.elapsed = done - sent
        named, predicate = _check_parts(check, check_name, ctx.recorder.check_label)
        resp.error = _run_checks(resp, expect_status, predicate, expect_json, named, acc)
        if resp.error is not None and resp.error.startswith("HTTP "):  # evidence: status line
            acc.sample(resp.error, f"{line}\n"
                       + content[:SAMPLE_BYTES].decode("utf-8", "replace"))
        acc.response(resp.error is None, resp.status, done - start, done - sent, len(content),
                     kind=resp.error)
        if trace is not None and tracing is not None:
            tracing.offer(done - start, acc.name, trace, done)
        return resp

    # -- message streams ---------------------------------------------------------------------
    def _stream_url(self, url: str, headers: Mapping[str, str] | None) -> tuple[str, dict[str,
                                                                                 str]]:
        """The full URL and headers of a stream; it is admitted like a request (a run's
        ``requests=`` budget counts stream connections too)."""
        ctx = self._ctx
        if not ctx.begin_request():
            raise BudgetExhausted
        full = urljoin(ctx.base_url, url) if ctx.base_url else url
        sent = {**ctx.headers, **(headers or {})}
        cookie = self.jar.header_for(full)
        if cookie is not None:
            sent["Cookie"] = cookie
        self.requests += 1  # traffic: the iteration did something
        return full, sent

    def websocket(self, url: str, *, name: str | None = None,
                  headers: Mapping[str, str] | None = None,
                  timeout: float | None = None) -> WebSocket:
        """``async with user.websocket("/ws/echo", name="echo") as ws:`` a WebSocket, recorded
        under ``name`` (default: the URL's path); ``ws.send(text_or_bytes)``,
        ``await ws.receive()``, ``await ws.request(msg)`` (send, await the next message: its
        latency recorded), ``async for msg in ws``. An ``http(s)://`` URL is connected as
        ``ws(s)://``; ``timeout`` bounds each receive (seconds; default none)."""
        full, sent = self._stream_url(url, headers)
        full = "ws" + full[4:] if full.startswith("http") else full
        acc = self._ctx.recorder.messages.for_name(name or urlsplit(full).path or "/", "ws")
        from .streams import WebSocket  # aiohttp: imported when a scenario opens a stream

        return WebSocket(self._ctx, acc, full, sent, timeout)

    def sse(self, url: str, *, name: str | None = None,
            headers: Mapping[str, str] | None = None,
            timeout: float | None = None) -> AsyncIterator[Event]:
        """``async for event in user.sse("/events", name="feed"):`` the server-sent events of
        ``url`` (``event.data``, ``event.event``, ``event.id``, ``event.retry``), recorded under
        ``name`` (default: the URL's path), until the server ends the stream or the loop
        breaks; ``timeout``: the longest wait for bytes (seconds; default none)."""
        full, sent = self._stream_url(url, headers)
        acc = self._ctx.recorder.messages.for_name(name or urlsplit(full).path or "/", "sse")
        from .streams import event_stream

        return event_stream(self._ctx, self._ctx.open, acc, full, sent, timeout)

    def _keep_cookies(self, raw: aiohttp.ClientResponse) -> None:
        """Store the cookies set by the response and by any redirect that led to it."""
        for step in (*raw.history, raw):
            self.jar.update(step.headers.getall("Set-Cookie", []), str(step.url))

    async def get(self, url: str, **kw: Any) -> Response:
        """``request("GET", url, **kw)``."""
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> Response:
        """``request("POST", url, **kw)``."""
        return await self.request("POST", url, **kw)

    async def put(self, url: str, **kw: Any) -> Response:
        """``request("PUT", url, **kw)``."""
        return await self.request("PUT", url, **kw)

    async def patch(self, url: str, **kw: Any) -> Response:
        """``request("PATCH", url, **kw)``."""
        return await self.request("PATCH", url, **kw)

    async def delete(self, url: str, **kw: Any) -> Response:
        """``request("DELETE", url, **kw)``."""
        return await self.request("DELETE", url, **kw)


__all__ = ["BudgetExhausted", "Response", "Timer", "UserContext", "VirtualUser"]
