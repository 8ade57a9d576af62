"""W3C trace context on the engine's requests (``trace=True``), and the slowest of each interval.

:class:`Tracing` holds the run's :class:`~loadnb.observe.trace.Tracer` (a new trace id per
iteration, a new span id per request, the run id in ``tracestate``) and the interval's
:class:`~loadnb.observe.trace.Slowest` keeper. The work calls :meth:`Tracing.offer` after each
answered request (one comparison unless it is among the :data:`KEEP` slowest so far); the source
takes the interval's slowest at each tick (:meth:`Tracing.take`).
"""

from __future__ import annotations

from ..observe.trace import Slowest, TraceContext, Tracer

__all__ = ["KEEP", "SlowRow", "Tracing"]

KEEP = 5  #: slowest requests kept per interval
#: ``(elapsed_time, name, latency_s, trace_id)``
SlowRow = tuple[float, str, float, str]


class Tracing:
    """The run's trace headers and slowest-request keeper (see the module's doc)."""

    __slots__ = ("tracer", "slowest")

    def __init__(self, run_id: str, keep: int = KEEP) -> None:
        self.tracer = Tracer(run_id)
        self.slowest = Slowest(keep)

    def new_trace(self) -> TraceContext:
        """A new trace: one per iteration."""
        return self.tracer.new_trace()

    def headers(self, trace: TraceContext) -> dict[str, str]:
        """``traceparent`` (a new span) and ``tracestate`` for one request of ``trace``."""
        return self.tracer.headers(trace)

    def offer(self, latency: float, name: str, trace: TraceContext, at: float) -> None:
        """An answered request (``at``: the engine's clock when it ended)."""
        if latency > self.slowest.floor:
            self.slowest.offer(latency, name, trace.trace_id, at)

    def take(self, origin: float) -> list[SlowRow]:
        """The interval's slowest, slowest first (``origin``: the clock at the load's start)."""
        self.slowest.origin = origin
        return [tuple(s) for s in self.slowest.swap()]  # type: ignore[misc]
