"""Sources: where the monitor's interval data comes from.

A source delivers, when the monitor asks at each tick, one
:class:`~loadnb.metrics.payload.Payload`: the interval's mergeable per-name stats and a small
status. :class:`LocalSource` is the engine in this process; scale-out adds one per worker process
(:mod:`loadnb.distributed.source`). Nothing in this module knows about the faces, the engine's
internals or the record.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..metrics.connections import ConnectStats
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

    def take_slowest(self) -> list[tuple[float, str, float, str]]: ...
    def take_send_lag(self) -> float: ...


class Waiting(Protocol):
    """What :class:`LocalSource` reads of the transport (besides, where it has them:
    ``protocol``, ``warnings`` and ``take_timings()``, see :func:`connections_of`)."""

    @property
    def waiting(self) -> int: ...


def connections_of(transport: Any) -> ConnectStats:
    """The connections ``transport`` opened since the last call (``take_timings()``, where it
    measures them) and the protocol it speaks (``protocol``; HTTP/1.1 when it has none)."""
    protocol = getattr(transport, "protocol", "http/1.1") or ""
    out = ConnectStats(protocol=protocol)
    take = getattr(transport, "take_timings", None)
    if take is not None:
        out.add([(t.connect, t.tls, t.tls > 0) for t in take()])
    return out


class LocalSource:
    """The engine running in this process, read at each tick; the transport's warnings (the
    HTTP/2 fall-back) go to the recorder's."""

    def __init__(self, engine: EngineProgress, recorder: Recorder, transport: Waiting) -> None:
        self.engine, self.recorder, self.transport = engine, recorder, transport
        self._warned = 0

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
            events=engine.take_events(), connected=self.recorder.messages.connected,
            send_lag_p99_ms=engine.take_send_lag())
        warnings: list[str] = getattr(self.transport, "warnings", [])
        for text in warnings[self._warned:]:
            self.recorder.warn(text)
        self._warned = len(warnings)
        return Payload(stats, status, self.recorder.swap_custom(),
                       connections=connections_of(self.transport),
                       messages=self.recorder.messages.swap(), slowest=engine.take_slowest())


__all__ = ["EngineProgress", "LocalSource", "Source", "Waiting", "connections_of"]
