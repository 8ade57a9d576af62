"""Backends: what generates a run's load and delivers it to the monitor as sources.

A :class:`Backend` is started by the run, runs until the load ends (or :meth:`Backend.stop`),
takes live changes, and exposes its :class:`~loadnb.source.Source` objects, which the monitor
collects at every tick. :class:`LocalBackend` is the engine in this process, on the run's own
event loop: one transport, one recorder, one :class:`~loadnb.source.LocalSource`. Scale-out is
another backend whose sources are worker processes; the monitor, the record and every sink stay
the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

from ..metrics.stats import Recorder
from ..spec.config import LoadSpec
from ..transport import Transport, TransportOptions
from .generator import Clock, Engine
from .source import LocalSource, Source

TransportFactory = Callable[[TransportOptions], Transport]


class Backend(Protocol):
    """What a :class:`~loadnb.run.Run` drives.

    ``name`` is the transport that sends (shown in the summary); ``stopped`` says whether
    :meth:`stop` ended the load. :meth:`run` returns once every request has ended and every
    source holds its last interval, so that the monitor's final tick sees it all;
    ``load_seconds`` is then how long the load lasted as the sources measured it (NaN: as the
    run's clock measures it, from ``on_start`` to the end of :meth:`run`).
    """

    name: str

    @property
    def sources(self) -> Sequence[Source]: ...

    @property
    def stopped(self) -> bool: ...

    @property
    def load_seconds(self) -> float: ...

    async def run(self, on_start: Callable[[], None]) -> None:
        """Generate the load; call ``on_start()`` once, when it starts (the run's clock starts
        there: what came before is start-up, not load)."""
        ...

    def stop(self) -> None: ...

    def set_target(self, value: float) -> None: ...

    async def aclose(self) -> None: ...


class LocalBackend:
    """The engine in this process (the default backend).

    Example::

        backend = LocalBackend(spec, make_transport, time.perf_counter, warn=print)
        monitor = Monitor(backend.sources, record, sinks, interval=spec.interval)
        await backend.run(on_start=monitor.begin); await backend.aclose()
    """

    def __init__(self, spec: LoadSpec, transport: TransportFactory, clock: Clock, *,
                 warn: Callable[[str], None]) -> None:
        self.recorder = Recorder(on_warning=warn, expected=spec.expected_interval)
        self.transport = transport(spec.transport_options())
        self.name = self.transport.name
        self.engine: Engine | None = None
        self._spec, self._clock = spec, clock

    async def open(self) -> None:
        """Build the engine (closes the transport if that fails)."""
        try:
            self.engine = Engine(self._spec, self.transport, self.recorder, self._clock)
        except BaseException:
            await self.transport.aclose()
            raise

    @property
    def sources(self) -> list[Source]:
        assert self.engine is not None, "open() the backend first"
        return [LocalSource(self.engine, self.recorder, self.transport)]

    @property
    def stopped(self) -> bool:
        return self.engine is not None and self.engine.stopped

    @property
    def load_seconds(self) -> float:
        return math.nan  # the run's clock is this process's

    async def run(self, on_start: Callable[[], None]) -> None:
        assert self.engine is not None, "open() the backend first"
        on_start()
        await self.engine.run()

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()

    def set_target(self, value: float) -> None:
        if self.engine is not None:
            self.engine.set_target(value)

    async def aclose(self) -> None:
        await self.transport.aclose()


__all__ = ["Backend", "LocalBackend", "TransportFactory"]
