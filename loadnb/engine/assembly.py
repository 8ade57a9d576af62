"""The one engine assembly: a spec's recorder, transport, engine and source, built together.

A run in this process (:class:`~loadnb.engine.backend.LocalBackend`) and each Dask worker's share
(:mod:`loadnb.distributed.worker`) assemble the same four parts the same way: a
:class:`~loadnb.metrics.stats.Recorder` (warnings told to ``warn``), the transport the spec's
options pick, the :class:`~loadnb.engine.generator.Engine` and the
:class:`~loadnb.engine.source.LocalSource` the monitor (or the worker's ticker) collects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..metrics.stats import Recorder
from ..spec.config import LoadSpec
from ..transport import Transport, TransportOptions, make_transport
from .generator import Clock, Engine
from .source import LocalSource

TransportFactory = Callable[[TransportOptions], Transport]


@dataclass
class Assembly:
    """The parts of one engine, ready to run (``engine.run()``); :meth:`aclose` after it."""

    recorder: Recorder
    transport: Transport
    engine: Engine
    source: LocalSource

    async def aclose(self) -> None:
        """Close the transport (its connections)."""
        await self.transport.aclose()


async def assemble(spec: LoadSpec, *, warn: Callable[[str], None],
                   transport: TransportFactory = make_transport,
                   clock: Clock = time.perf_counter) -> Assembly:
    """The parts of ``spec``'s engine; the transport is closed again if the engine cannot be
    built (a bad scenario, say)."""
    recorder = Recorder(on_warning=warn, expected=spec.expected_interval)
    made = transport(spec.transport_options())
    try:
        engine = Engine(spec, made, recorder, clock)
    except BaseException:
        await made.aclose()
        raise
    return Assembly(recorder, made, engine, LocalSource(engine, recorder, made))


__all__ = ["Assembly", "TransportFactory", "assemble"]
