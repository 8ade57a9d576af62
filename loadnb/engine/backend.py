"""Backends: what generates a run's load and delivers it to the monitor as sources.

A :class:`Backend` is started by the run, runs until the load ends (or :meth:`Backend.stop`),
takes live changes, and exposes its :class:`~loadnb.engine.source.Source` objects, which the
monitor collects at every tick. :class:`LocalBackend` is the engine in this process, on the run's
own event loop (its parts assembled by :func:`~loadnb.engine.assembly.assemble`). Scale-out is
another backend whose sources are worker processes; the monitor, the record and every sink stay
the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

from ..spec.config import LoadSpec
from .assembly import Assembly, TransportFactory, assemble
from .generator import Clock
from .source import Source


class Backend(Protocol):
    """What a :class:`~loadnb.runner.run.Run` drives.

    ``name`` is the transport that sends (shown in the summary); ``stopped`` says whether
    :meth:`stop` ended the load. :meth:`run` returns once every request has ended and every
    source holds its last interval, so that the monitor's final tick sees it all;
    ``load_seconds`` is then how long the load lasted as the sources measured it (NaN: as the
    run's clock measures it, from ``on_start`` to the end of :meth:`run`). ``lag``: how far the
    run's clock runs behind the sources' (seconds; ``on_start`` comes that long after the load's
    start, so that each of their intervals has arrived when the monitor closes its own).
    """

    name: str
    lag: float

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
        await backend.open()
        monitor = Monitor(backend.sources, record, sinks, interval=spec.interval)
        await backend.run(on_start=monitor.begin); await backend.aclose()
    """

    def __init__(self, spec: LoadSpec, transport: TransportFactory, clock: Clock, *,
                 warn: Callable[[str], None]) -> None:
        self._spec, self._transport, self._clock, self._warn = spec, transport, clock, warn
        self.parts: Assembly | None = None
        self.name = ""
        self.lag = 0.0  # its sources are in this process: no delay

    async def open(self) -> None:
        """Assemble the engine (see :func:`~loadnb.engine.assembly.assemble`)."""
        self.parts = await assemble(self._spec, warn=self._warn, transport=self._transport,
                                    clock=self._clock)
        self.name = self.parts.transport.name

    @property
    def sources(self) -> list[Source]:
        assert self.parts is not None, "open() the backend first"
        return [self.parts.source]

    @property
    def stopped(self) -> bool:
        return self.parts is not None and self.parts.engine.stopped

    @property
    def load_seconds(self) -> float:
        return math.nan  # the run's clock is this process's

    async def run(self, on_start: Callable[[], None]) -> None:
        assert self.parts is not None, "open() the backend first"
        await self.parts.engine.warm_up()
        on_start()
        await self.parts.engine.run()

    def stop(self) -> None:
        if self.parts is not None:
            self.parts.engine.stop()

    def set_target(self, value: float) -> None:
        if self.parts is not None:
            self.parts.engine.set_target(value)

    async def aclose(self) -> None:
        if self.parts is not None:
            await self.parts.aclose()


__all__ = ["Backend", "LocalBackend"]
