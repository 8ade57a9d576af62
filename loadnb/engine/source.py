"""Sources: where the monitor's interval data comes from.

A source delivers, when the monitor asks at each tick, one
:class:`~loadnb.metrics.payload.Payload`: the interval's mergeable per-name stats and a small
status. :class:`LocalSource` is the engine in this process; scale-out adds one per worker process
(:mod:`loadnb.distributed.source`). Nothing in this module knows about the faces, the engine's
internals or the record.
"""

from __future__ import annotations

from typing import Protocol

from ..metrics.payload import Payload, SourceStatus
from ..metrics.stats import Recorder


class Source(Protocol):
    """Anything that delivers interval payloads to the monitor."""

    def collect(self, *, final: bool) -> Payload:
        """Close the source's current interval and return it. ``final``: the run has ended and
        every task of the source has finished: settle what never ended as cancelled."""
        ...


class EngineProgress(Protocol):
    """What :class:`LocalSource` reads of the engine (implemented by
    :class:`~loadnb.engine.generator.Engine`)."""

    started: int
    dropped: int
    phase: str

    @property
    def active_users(self) -> int: ...

    def elapsed(self) -> float: ...

    def target_users(self, elapsed: float) -> int: ...

    def target_rate(self, elapsed: float) -> float: ...

    def progress(self, elapsed: float) -> tuple[float, float]: ...

    def take_events(self) -> list[tuple[float, str]]: ...

    def take_send_lag(self) -> float: ...


class Waiting(Protocol):
    """What :class:`LocalSource` reads of the transport."""

    waiting: int


class LocalSource:
    """The engine running in this process, read at each tick."""

    def __init__(self, engine: EngineProgress, recorder: Recorder, transport: Waiting) -> None:
        self.engine, self.recorder, self.transport = engine, recorder, transport

    def collect(self, *, final: bool) -> Payload:
        engine = self.engine
        stats = self.recorder.swap(settle=final)
        elapsed = engine.elapsed()
        progress, eta = engine.progress(elapsed)
        status = SourceStatus(
            active_users=engine.active_users, in_flight=self.recorder.in_flight(),
            waiting=self.transport.waiting, target_users=engine.target_users(elapsed),
            target_rate=engine.target_rate(elapsed), phase="done" if final else engine.phase,
            dropped=engine.dropped, started=engine.started, progress=progress, eta=eta,
            events=engine.take_events(), send_lag_p99_ms=engine.take_send_lag())
        return Payload(stats, status, self.recorder.swap_custom())


__all__ = ["EngineProgress", "LocalSource", "Source", "Waiting"]
