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


class Plan(Protocol):
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

    def __init__(self, plan: Plan, recorder: Recorder, transport: Waiting) -> None:
        self.plan, self.recorder, self.transport = plan, recorder, transport

    def collect(self, *, final: bool) -> Payload:
        plan = self.plan
        stats = self.recorder.swap(settle=final)
        elapsed = plan.elapsed()
        progress, eta = plan.progress(elapsed)
        status = SourceStatus(
            active_users=plan.active_users, in_flight=self.recorder.in_flight(),
            waiting=self.transport.waiting, target_users=plan.target_users(elapsed),
            target_rate=plan.target_rate(elapsed), phase="done" if final else plan.phase,
            dropped=plan.dropped, started=plan.started, progress=progress, eta=eta,
            events=plan.take_events(), send_lag_p99_ms=plan.take_send_lag())
        return Payload(stats, status, self.recorder.swap_custom())


__all__ = ["LocalSource", "Plan", "Source", "Waiting"]
