"""W3C trace context for requests, and the slowest requests of an interval.

:class:`Tracer` makes the headers of `W3C Trace Context <https://www.w3.org/TR/trace-context/>`_:
``traceparent: 00-<trace id>-<span id>-01`` (version 00, a new 16-byte trace id per iteration
from :meth:`Tracer.new_trace`, a new 8-byte span id per request, sampled) and ``tracestate:
loadnb=<run id>``. Ids come from ``os.urandom`` in batches, hex-encoded once per batch; a
request's header lines cost two byte concatenations (:meth:`Tracer.header_bytes`).

:class:`Slowest` keeps the ``k`` slowest requests of an interval (a bounded min-heap; a request
faster than the k-th slowest costs one comparison with :attr:`Slowest.floor`), and
:func:`merge_slowest` merges several (workers) into the k slowest of all.
"""

from __future__ import annotations

import heapq
import math
import os
import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["Slow", "Slowest", "TraceContext", "Tracer", "merge_slowest", "parse_traceparent"]

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
#: a tracestate value: printable ASCII but ',' and '=', at most 256 characters
_STATE_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")


class _HexPool:
    """Random ids of ``nbytes`` bytes as lower-case hex ASCII bytes, made ``batch`` at a time
    (one ``os.urandom`` and one ``hex()`` per batch; an id costs a ``list.pop``)."""

    __slots__ = ("width", "batch", "_ids")

    def __init__(self, nbytes: int, batch: int = 512) -> None:
        self.width, self.batch = 2 * nbytes, batch
        self._ids: list[bytes] = []

    def __call__(self) -> bytes:
        try:
            return self._ids.pop()
        except IndexError:
            n = self.width // 2
            ids = os.urandom(n * self.batch).hex(" ", n).encode().split()  # in C
            zero = b"0" * self.width  # all zeros is not a valid id
            self._ids = ids if zero not in ids else [i for i in ids if i != zero]
            return self()


class TraceContext(NamedTuple):
    """One iteration's trace: its id, and the start of its requests' ``traceparent`` line."""

    trace_id: str
    head: bytes  #: ``b"traceparent: 00-<trace id>-"``


class Tracer:
    """Trace headers for one run (``run_id`` goes in ``tracestate``; ValueError when it cannot:
    printable ASCII without ``,`` or ``=``, at most 256 characters)."""

    def __init__(self, run_id: str) -> None:
        if not isinstance(run_id, str) or not _STATE_VALUE.fullmatch(run_id):
            raise ValueError(f"a run id in tracestate must be 1 to 256 printable ASCII "
                             f"characters without ',' or '=', got {run_id!r}")
        self.run_id = run_id
        self.tracestate = f"loadnb={run_id}"
        self._tail = f"-01\r\ntracestate: {self.tracestate}\r\n".encode()
        self._traces = _HexPool(16)
        self._spans = _HexPool(8)

    def new_trace(self) -> TraceContext:
        """A new trace (one per iteration)."""
        tid = self._traces()
        return TraceContext(tid.decode(), b"traceparent: 00-" + tid + b"-")

    def span_id(self) -> str:
        """A new span id (16 hex digits)."""
        return self._spans().decode()

    def header_bytes(self, trace: TraceContext) -> bytes:
        """``traceparent`` and ``tracestate`` header lines (CRLF-ended) for one request of
        ``trace``, with a new span id."""
        return trace.head + self._spans() + self._tail

    def headers(self, trace: TraceContext) -> dict[str, str]:
        """The same two headers as a dict (for a client that takes headers)."""
        return {"traceparent": f"00-{trace.trace_id}-{self.span_id()}-01",
                "tracestate": self.tracestate}


def parse_traceparent(value: str) -> tuple[str, str, int] | None:
    """``(trace_id, span_id, flags)`` of a valid version-00 ``traceparent`` value, else None."""
    m = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if m is None or m.group(1) != "00":
        return None
    version, trace_id, span_id, flags = m.groups()
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, int(flags, 16)


class Slow(NamedTuple):
    """One slow request: when it ended (run-elapsed seconds), its name, latency (s), trace id."""

    elapsed: float
    name: str
    latency: float
    trace_id: str


class Slowest:
    """The ``k`` slowest requests offered since the last :meth:`swap`.

    Hot path: ``if latency > keeper.floor: keeper.offer(latency, name, trace_id, at)`` —
    :attr:`floor` is ``-inf`` until ``k`` requests were offered, then the k-th slowest latency.
    ``at`` is the time the request ended on any clock; ``elapsed = at - origin``.
    """

    __slots__ = ("k", "origin", "floor", "_heap", "_seq")

    def __init__(self, k: int = 5, origin: float = 0.0) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k, self.origin = k, origin
        self.floor = -math.inf
        self._heap: list[tuple[float, int, str, str, float]] = []
        self._seq = 0

    def offer(self, latency: float, name: str, trace_id: str, at: float) -> None:
        """Keep this request if it is among the k slowest so far."""
        if latency <= self.floor:
            return
        self._seq += 1
        item = (latency, self._seq, name, trace_id, at)
        heap = self._heap
        if len(heap) < self.k:
            heapq.heappush(heap, item)
            if len(heap) == self.k:
                self.floor = heap[0][0]
        else:
            heapq.heapreplace(heap, item)
            self.floor = heap[0][0]

    def swap(self) -> list[Slow]:
        """The interval's slowest, slowest first; start a new interval."""
        heap, self._heap, self.floor = self._heap, [], -math.inf
        heap.sort(reverse=True)
        return [Slow(at - self.origin, name, lat, tid) for lat, _, name, tid, at in heap]


def merge_slowest(parts: Iterable[Iterable[Slow]], k: int) -> list[Slow]:
    """The ``k`` slowest of several lists (e.g. one interval's on each worker), slowest first."""
    return heapq.nlargest(k, (s for part in parts for s in part), key=lambda s: s.latency)
