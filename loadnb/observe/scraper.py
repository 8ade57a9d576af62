"""Scraping the target's ``/metrics`` beside the load, on a task of its own.

:class:`Scraper` reads each URL once per interval (Prometheus text or OpenMetrics) with its own
aiohttp session and a short timeout, on its own asyncio task: the load never waits for it and it
never raises. The caller (the monitor, once per tick) calls :meth:`Scraper.take`, which returns at
once the values of the scrapes finished since the last call (counters as per-second rates between
the scrapes taken, gauges as read; see :mod:`loadnb.observe.exposition`) and asks for the next
scrape, so scrapes follow the caller's ticks. A failed or slow scrape is a warning (once per run of
failures, and once when it works again) and a gap: every series of that URL is NaN in that
``take()``. With several URLs every series gets an ``instance="host:port"`` label.

A local process is watched by :class:`loadnb.observe.process.ProcessWatcher` with the same
``start``/``take``/``aclose`` shape (:class:`Observer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from .._version import __version__
from ..text.redact import redact_text, redact_url, split_credentials
from .exposition import Keep, Kind, Parser, Rates, Sample, make_filter
from .http import Failed, check_url, describe_error

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ACCEPT", "MAX_BYTES", "MAX_SERIES", "PARSE_LINES", "Observer", "Scraper"]

#: What the scraper asks for: OpenMetrics first, then Prometheus text.
ACCEPT = ("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,"
          "*/*;q=0.1")
MAX_BYTES = 16 * 1024 * 1024  #: a larger answer is a failed scrape
MAX_SERIES = 1000  #: series kept over all URLs; more are dropped with one warning
PARSE_LINES = 250  #: lines parsed between two yields to the loop (~0.7 ms)
Warn = Callable[[str], None]


class Observer(Protocol):
    """What the run drives once per tick: a scraper or a process watcher."""

    async def start(self) -> None: ...
    def take(self) -> dict[str, float]: ...
    async def aclose(self) -> None: ...


@dataclass
class _Target:
    url: str
    shown: str  # the URL as it may be shown (redacted)
    labels: dict[str, str]  # added to every series: the instance, with several URLs
    headers: dict[str, str]  # the user's, and the URL's credentials as Authorization
    rates: Rates = field(default_factory=Rates)
    fresh: tuple[float, dict[str, Sample]] | None = None
    known: set[str] = field(default_factory=set)  # series names given by take()
    admitted: set[str] = field(default_factory=set)  # series kept (metric{labels})
    failures: int = 0
    reason: str = ""
    warned_lines: bool = False


class Scraper:
    """Scrapes ``urls`` once per ``interval`` on its own task (see the module's doc).

    ``match`` is the ``--scrape-match`` regular expression (default: every counter, process CPU,
    memory, open fds and GC); ``timeout`` (default ``min(2, interval / 2)`` s) bounds each scrape;
    ``warn`` is told each warning (it must not block); ``headers`` go with every scrape (an
    Authorization for a protected endpoint; never shown); ``clock`` (default: the loop's) times
    the scrapes for the rates. Bad arguments raise ValueError at once, before anything starts.
    """

    def __init__(self, urls: Sequence[str], *, match: str | None = None, interval: float = 1.0,
                 timeout: float | None = None, warn: Warn | None = None,
                 headers: Mapping[str, str] | None = None, max_series: int = MAX_SERIES,
                 clock: Callable[[], float] | None = None) -> None:
        if isinstance(urls, str) or not urls:
            raise ValueError("give the scrape URLs as a non-empty list")
        if not (isinstance(interval, (int, float)) and math.isfinite(interval) and interval > 0):
            raise ValueError(f"scrape interval must be a positive number, got {interval!r}")
        timeout = min(2.0, interval / 2) if timeout is None else timeout
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"scrape timeout must be a positive number, got {timeout!r}")
        checked = list(dict.fromkeys(check_url(u, "scrape URL") for u in urls))
        self.targets = [_target(u, headers or {}, len(checked) > 1) for u in checked]
        self.keep: Keep = make_filter(match)
        self.interval, self.timeout, self.max_series = float(interval), float(timeout), max_series
        self.warnings: list[str] = []  #: every warning given, in order
        self.scrapes = 0  #: scrapes finished, failed or not (all URLs)
        self.failures = 0  #: scrapes failed
        self._warn = warn
        self._clock = clock
        self._series = 0
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._kick = asyncio.Event()
        self._closing = False

    async def start(self) -> None:
        """Start the scrape task (the first scrape begins at once)."""
        if self._task is not None:
            return
        import aiohttp  # imported when a scrape starts: a run that scrapes nothing never does

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="loadnb-scrape")

    def take(self) -> dict[str, float]:
        """The values of the scrapes finished since the last call (NaN for every known series of
        a URL without a fresh scrape), and ask for the next scrape. Never waits, never raises."""
        self._kick.set()
        out: dict[str, float] = {}
        for target in self.targets:
            fresh, target.fresh = target.fresh, None
            if fresh is None:
                out.update(dict.fromkeys(target.known, math.nan))
                continue
            values = target.rates.update(*fresh)
            out.update(dict.fromkeys(target.known - values.keys(), math.nan))
            out.update(values)
            target.known.update(values)
        return out

    async def aclose(self) -> None:
        """Stop scraping and close the session (waits at most for the task's cancellation)."""
        self._closing = True
        self._kick.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- the task -------------------------------------------------------------------------------

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            started = loop.time()
            self._kick.clear()
            await asyncio.gather(*(self._scrape(t) for t in self.targets))
            await self._pause(started + self.interval - loop.time())
            gap = started + self.interval / 2 - loop.time()  # never more often than this
            if gap > 0:
                await asyncio.sleep(gap)

    async def _pause(self, seconds: float) -> None:
        """Until the next ``take()`` or ``seconds``, whichever comes first. (Not ``wait_for``:
        before Python 3.12 it can swallow a cancellation that comes as the wait ends.)"""
        if seconds <= 0 or self._kick.is_set():
            return
        waiter = asyncio.ensure_future(self._kick.wait())
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            waiter.cancel()

    async def _scrape(self, target: _Target) -> None:
        """One scrape of one URL; never raises (but for cancellation)."""
        t = self._clock() if self._clock is not None else asyncio.get_running_loop().time()
        try:
            text = await self._fetch(target)  # bounded by the session's timeout
            await self._took(target, t, text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a scrape must never end the task
            self.failures += 1
            self._failed(target, describe_error(exc, self.timeout, target.headers.values()))
        self.scrapes += 1

    async def _fetch(self, target: _Target) -> str:
        session = self._session
        if session is None:
            raise Failed("the scraper is closed")
        async with session.get(target.url, headers=target.headers) as resp:
            if resp.status != 200:
                raise Failed(f"HTTP {resp.status}")
            body = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise Failed(f"answer larger than {MAX_BYTES} bytes")
            return body.decode(resp.charset or "utf-8", errors="replace")

    async def _took(self, target: _Target, t: float, text: str) -> None:
        parser = Parser(keep=self._keeper(target), labels=target.labels)
        lines = text.split("\n")
        for start in range(0, len(lines), PARSE_LINES):  # let the load run between parts
            parser.feed(lines[start:start + PARSE_LINES])
            if parser.done:
                break
            await asyncio.sleep(0)
        exposition = parser.out
        if exposition.bad_lines and not target.warned_lines:
            target.warned_lines = True
            self._say(f"scrape of {target.shown}: {exposition.bad_lines} lines could not be read "
                      f"(first: {redact_text(exposition.first_bad)[:100]!r})")
        if target.failures:
            self._say(f"scrape of {target.shown} works again after {target.failures} failed")
            target.failures, target.reason = 0, ""
        target.fresh = (t, exposition.samples)

    def _keeper(self, target: _Target) -> Keep:
        """The filter for ``target``: the user's match, then the cap on series (new ones only)."""
        def keep(metric: str, series: str, kind: Kind) -> bool:
            if not self.keep(metric, series, kind):
                return False
            if series in target.admitted:
                return True
            if self._series < self.max_series:
                target.admitted.add(series)
                self._series += 1
                return True
            if self._series == self.max_series:
                self._series += 1  # warn once
                self._say(f"more than {self.max_series} scraped series: the others are left out "
                          "(narrow them with a scrape match)")
            return False

        return keep

    def _failed(self, target: _Target, reason: str) -> None:
        target.failures += 1
        if target.failures == 1 or reason != target.reason:
            self._say(f"scrape of {target.shown} failed: {reason} (a gap in its server.* series)")
        target.reason = reason

    def _say(self, text: str) -> None:
        self.warnings.append(text)
        if self._warn is not None:
            with contextlib.suppress(Exception):
                self._warn(text)


def _target(url: str, headers: Mapping[str, str], several: bool) -> _Target:
    """A checked URL's target: credentials in the URL move to an Authorization header
    (ValueError if there is one already)."""
    own = dict(headers)
    clean = split_credentials(url, own)
    labels = {"instance": _instance(clean)} if several else {}
    return _Target(clean, redact_url(url), labels,
                   {"Accept": ACCEPT, "User-Agent": f"loadnb/{__version__} (scrape)", **own})


def _instance(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port else host
