"""What a run observes beside its load, and where it shows its own metrics.

:class:`Observing` builds, from a spec's :class:`~loadnb.spec.observing.ObserveOptions`, the
target's observers (a :class:`~loadnb.observe.scraper.Scraper` of the ``scrape`` URLs, a
:class:`~loadnb.observe.process.ProcessWatcher` of ``watch_pid``) and loadnb's exporters (a
:class:`~loadnb.observe.exporter.MetricsServer` on ``metrics_port``, an
:class:`~loadnb.observe.otlp.OtlpPusher` to ``otlp``), starts them before the load and closes
them after it. Everything runs on tasks of its own: the load never waits for a scrape or a push.

Once per tick the monitor calls :meth:`Observing.take` (never waits): a scrape asked for at one
tick ends shortly after it and is taken at the next, so its values (counters as per-second rates
between two scrapes: the interval that ended at the tick it was asked) are written on the
snapshot **before** the current one; a watched process is read at the tick itself and lands on
the current one. :meth:`Observing.feed` (a sink of the monitor's updates) hands the run's
cumulative totals to the exporters once per tick.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Protocol

from ..observe.exporter import MetricsServer
from ..observe.feed import LoadMetrics
from ..observe.otlp import OtlpPusher
from ..observe.process import ProcessWatcher
from ..observe.scraper import Observer, Scraper
from ..record.update import Update
from ..spec.config import LoadSpec

#: ``(for the snapshot before, for the current one)``
Taken = tuple[dict[str, float], dict[str, float]]


class Monitored(Protocol):
    """What :func:`open_observing` wires (the run's :class:`~loadnb.runner.monitor.Monitor`)."""

    observe: Callable[[], Taken] | None

    def warn(self, text: str) -> None: ...

__all__ = ["Monitored", "Observing", "Taken", "open_observing", "with_run_id"]



class Observing:
    """The observers and exporters of one run (see the module's doc). Made → nothing runs yet
    but the metrics port is bound (ValueError when it is busy)."""

    def __init__(self, spec: LoadSpec, run_id: str, warn: Callable[[str], None]) -> None:
        opts = spec.observe
        self.scrapers: list[Observer] = []
        self.watchers: list[Observer] = []
        if opts.scrape:
            self.scrapers.append(Scraper(list(opts.scrape), match=opts.scrape_match,
                                         interval=spec.interval, warn=warn))
        if opts.watch_pid is not None:
            self.watchers.append(ProcessWatcher(opts.watch_pid, warn=warn))
        exported = opts.metrics_port is not None or opts.otlp is not None
        self.metrics = LoadMetrics(run_id) if exported else None
        self.server: MetricsServer | None = None
        self.pusher: OtlpPusher | None = None
        if self.metrics is not None and opts.metrics_port is not None:
            self.server = MetricsServer(self.metrics, opts.metrics_port,
                                        linger=opts.metrics_linger)
        if self.metrics is not None and opts.otlp is not None:
            try:
                self.pusher = OtlpPusher(opts.otlp, self.metrics, headers=opts.otlp_headers,
                                         timeout=min(2.0, max(spec.interval, 0.5)), warn=warn)
            except BaseException:
                self.close()
                raise

    @property
    def observes(self) -> bool:
        """Whether anything of the target is observed (the monitor takes it then)."""
        return bool(self.scrapers or self.watchers)

    async def start(self) -> None:
        """Start every observer and exporter (before the load)."""
        for part in (*self.scrapers, *self.watchers):
            await part.start()
        if self.server is not None:
            await self.server.start()
        if self.pusher is not None:
            await self.pusher.start()

    def take(self) -> Taken:
        """The values to write now: the scrapes' (on the snapshot before) and the watched
        processes' (on the current one). Never waits, never raises."""
        before: dict[str, float] = {}
        now: dict[str, float] = {}
        for scraper in self.scrapers:
            with contextlib.suppress(Exception):
                before.update(scraper.take())
        for watcher in self.watchers:
            with contextlib.suppress(Exception):
                now.update(watcher.take())
        return before, now

    def feed(self, update: Update) -> None:
        """A sink: the run's totals so far to the exporters (once per tick)."""
        if self.metrics is None:
            return
        snap = update.snapshot
        self.metrics.update(update.totals, snap.active_users, snap.in_flight,
                            snap.dropped_arrivals)

    async def aclose(self) -> None:
        """Stop observing, push the final values; the metrics server lingers (then stops)."""
        for part in (*self.scrapers, *self.watchers):
            with contextlib.suppress(Exception):
                await part.aclose()
        if self.pusher is not None:
            with contextlib.suppress(Exception):
                await self.pusher.aclose()
        if self.server is not None:
            server, self.server = self.server, None
            with contextlib.suppress(Exception):
                await server.aclose()

    def close(self) -> None:
        """Release the metrics port of a run that never started."""
        if self.server is not None:
            self.server.close()


async def open_observing(spec: LoadSpec, run_id: str, monitor: Monitored,
                         sinks: list[Callable[[Update], None]]) -> Observing | None:
    """The run's observers and exporters, started and wired to ``monitor`` (None when the spec
    observes and exports nothing)."""
    opts = spec.observe
    if not (opts.scrape or opts.watch_pid or opts.metrics_port or opts.otlp):
        return None
    observing = Observing(spec, run_id, monitor.warn)
    try:
        await observing.start()
    except BaseException:
        await observing.aclose()
        raise
    if observing.observes:
        monitor.observe = observing.take
    if observing.metrics is not None:
        sinks.append(observing.feed)
    return observing


def with_run_id(spec: LoadSpec, run_id: str) -> LoadSpec:
    """``spec`` with the run's id in its observe options (``tracestate``), when it traces."""
    if not spec.observe.trace:
        return spec
    return dataclasses.replace(spec, observe=dataclasses.replace(spec.observe, run_id=run_id))
