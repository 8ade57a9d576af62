"""Test doubles for fast, deterministic unit tests: no socket, no server, no subprocess.

* :class:`MockTransport` implements :class:`loadnb.transport.base.Transport`; its answers come
  from a handler function (as with ``httpx.MockTransport``) and it counts what it was sent.
* :class:`FakeClock` is a clock you advance by hand, for the ``clock=`` / ``wall=`` / ``cpu=``
  parameters of the engine and the monitor.
* :class:`MockLaneTransport` is a :class:`MockTransport` that also runs the open model as a
  lane (:class:`loadnb.transport.base.Laning`, as the fast transport does): its
  :class:`MockLane` keeps every arrival it is sent until the test answers or fails it.
* :class:`FakeSource` implements :class:`loadnb.source.Source` from a script of payloads, so the
  monitor can be ticked by hand with no engine at all; :func:`interval` and :func:`payload` build
  those payloads.

Example::

    transport = MockTransport(lambda request: (503, 0) if "/down" in request.url else (200, 2))
    run = Run(make_spec("http://127.0.0.1:9/", users=2, requests=10),
              transport=lambda options: transport)
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import math
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from loadnb.metrics.histogram import Histogram
from loadnb.metrics.payload import Payload, SourceStatus
from loadnb.metrics.stats import IntervalStats
from loadnb.record.record import RunRecord
from loadnb.record.state import RunState
from loadnb.record.update import Update
from loadnb.transport.base import Arrivals, Request, classify_os_error

Reply = tuple[int, int]
#: ``handler(request) -> (status, body bytes)``, or an awaitable of it; raising is a failed send.
Handler = Callable[[Request], "Reply | Awaitable[Reply]"]


def ok(request: Request) -> Reply:
    """The default handler: ``200`` with a 2-byte body."""
    return 200, 2


class MockTransport:
    """A :class:`~loadnb.transport.base.Transport` answered by ``handler`` (no network).

    Each ``send`` first awaits ``asyncio.sleep(delay)`` (so it always yields to the event loop
    once, as real I/O does: a send that never suspends would starve every other task), then
    returns ``handler(request)`` (awaited when it is awaitable) or lets its exception through.
    ``classify`` names failures like the real transports' fallback
    (:func:`~loadnb.transport.base.classify_os_error`) unless ``classify`` is given;
    ``close_error`` makes :meth:`aclose` raise it (a run that fails at its end).

    Counts: ``requests`` (every request sent, in order; ``sent`` is their number), ``answered``,
    ``raised``, ``cancelled``, ``statuses`` (a Counter), ``in_flight`` and its ``peak_in_flight``,
    ``closed``. Use one instance per run: ``Run(spec, transport=lambda options: mock)``.
    """

    name = "mock"

    def __init__(self, handler: Handler = ok, *, delay: float = 0.0,
                 classify: Callable[[BaseException], str] = classify_os_error,
                 close_error: BaseException | None = None) -> None:
        self.handler = handler
        self.delay = delay
        self._classify = classify
        self.close_error = close_error
        self.waiting = 0
        self.requests: list[Request] = []
        self.answered = 0
        self.raised = 0
        self.cancelled = 0
        self.statuses: Counter[int] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.closed = False

    @property
    def sent(self) -> int:
        """How many requests were sent (whatever became of them)."""
        return len(self.requests)

    async def send(self, request: Request) -> Reply:
        self.requests.append(request)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            reply = self.handler(request)
            if inspect.isawaitable(reply):
                reply = await reply
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        except Exception:
            self.raised += 1
            raise
        finally:
            self.in_flight -= 1
        status, nbytes = reply
        self.answered += 1
        self.statuses[status] += 1
        return status, nbytes

    def classify(self, exc: BaseException) -> str:
        return self._classify(exc)

    async def aclose(self) -> None:
        self.closed = True
        if self.close_error is not None:
            raise self.close_error


class MockLane:
    """A :class:`~loadnb.transport.base.Lane` whose arrivals wait in ``out`` (as
    ``(intended, sent)``, in the order sent) until the test calls :meth:`answer` or :meth:`fail`.
    ``sent`` keeps every arrival ever sent; ``closed`` says whether the engine closed it."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self.in_flight = 0
        self.due_at = math.inf
        self.pace: Callable[[], None] | None = None
        self.out: deque[tuple[float, float]] = deque()
        self.sent: list[tuple[float, float]] = []
        self.closed = False
        self.warmed = False

    def send(self, intendeds: list[float]) -> None:
        now = self.arrivals.clock()
        for intended in intendeds:
            self.in_flight += 1
            self.out.append((intended, now))
            self.sent.append((intended, now))
            self.arrivals.lags.append(now - intended)

    def answer(self, n: int | None = None, status: int = 200, nbytes: int = 2) -> None:
        """Answer the ``n`` oldest arrivals out (all by default) now, on the arrivals' clock."""
        for _ in range(len(self.out) if n is None else n):
            intended, sent = self.out.popleft()
            self.in_flight -= 1
            self.arrivals.done(intended, sent, self.arrivals.clock(), status, nbytes)
            if status >= 400:
                self.arrivals.evidence(status, f"HTTP/1.1 {status}")

    def fail(self, exc: BaseException, n: int = 1) -> None:
        """Fail the ``n`` oldest arrivals out with ``exc``."""
        for _ in range(n):
            intended, _sent = self.out.popleft()
            self.in_flight -= 1
            self.arrivals.failed(intended, exc)

    async def warm(self, rate: float) -> None:
        """Nothing to open (the engine calls it before the load starts)."""
        self.warmed = True

    async def drain(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while self.in_flight and not self.closed and loop.time() < until:  # noqa: ASYNC110
            await asyncio.sleep(0.005)

    def close(self) -> None:
        self.closed = True
        self.out.clear()
        self.in_flight = 0

    async def aclose(self) -> None:
        self.close()


class MockLaneTransport(MockTransport):
    """A :class:`MockTransport` with an open model that makes no task per arrival: ``lane()``
    returns (and keeps as ``the_lane``) a :class:`MockLane`."""

    name = "mock-lane"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.the_lane: MockLane | None = None

    def lane(self, arrivals: Arrivals) -> MockLane:
        self.the_lane = MockLane(arrivals)
        return self.the_lane


class FakeClock:
    """A clock (a callable returning seconds) that moves only when told to.

    >>> clock = FakeClock()
    >>> clock.advance(0.5)
    0.5
    >>> clock()
    0.5
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never back); return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
        return self.now

    def set(self, now: float) -> float:
        """Move forward to ``now``; return it."""
        return self.advance(now - self.now)


class FakeSource:
    """A :class:`~loadnb.source.Source` that returns the payloads it is given, in order.

    Once the script is used up it returns an empty interval with a default status. ``finals``
    records the ``final`` flag of every ``collect``, in order.
    """

    def __init__(self, *payloads: Payload) -> None:
        self.script: deque[Payload] = deque(payloads)
        self.finals: list[bool] = []

    def push(self, *payloads: Payload) -> None:
        """Add payloads to the end of the script."""
        self.script.extend(payloads)

    def collect(self, *, final: bool) -> Payload:
        self.finals.append(final)
        if self.script:
            return self.script.popleft()
        return Payload({}, SourceStatus())


def interval(name: str = "GET /", *, completed: int = 0, failed: int = 0, cancelled: int = 0,
             started: int | None = None, latencies: Iterable[float] = (),
             service: Iterable[float] | None = None, errors: Mapping[str, int] | None = None,
             statuses: Mapping[int, int] | None = None, nbytes: int = 0) -> IntervalStats:
    """One request name's interval, as a source delivers it.

    ``started`` defaults to the requests that ended (completed + failed + cancelled);
    ``latencies`` (seconds) fill the response-time histogram and, unless ``service`` is given,
    the service-time one too.
    """
    values = list(latencies)
    return IntervalStats(
        name, completed + failed + cancelled if started is None else started, completed, failed,
        cancelled, nbytes, latency=Histogram.from_seconds(values),
        service=Histogram.from_seconds(values if service is None else service),
        status=dict(statuses or {}), errors=dict(errors or {}))


def payload(*stats: IntervalStats, **status: Any) -> Payload:
    """A payload of the given intervals (one per name) and a status made of ``status``
    (the fields of :class:`~loadnb.source.SourceStatus`)."""
    return Payload({s.name: s for s in stats}, SourceStatus(**status))


__all__ = ["FakeClock", "FakeSource", "Handler", "MockLane", "MockLaneTransport", "MockTransport",
           "Reply", "interval", "ok", "payload", "update_of"]


def update_of(record: RunRecord, **changes: Any) -> Update:
    """The :class:`~loadnb.record.update.Update` a monitor would send after ``record``'s last
    snapshot (for sinks fed by hand in unit tests); ``changes`` replace fields."""
    update = Update(
        record.snapshots[-1], RunState(record.state), dict(record.last_interval),
        dict(record.last_custom), (), (), (), tuple(record.alerts),
        tuple(dict(t) for t in record.thresholds), tuple(record.warnings),
        tuple(record.events), dict(record.overall.iterations), record.aborted_by)
    return dataclasses.replace(update, **changes)
