"""What one iteration of the load does: send the target URL's request, or run a scenario task.

The engine schedules iterations (users or arrivals); a :class:`Work` says what an iteration is.
``begin`` does the synchronous bookkeeping at once (so an arrival is counted the moment it is
started, even if it is cancelled before it runs) and returns the coroutine to await or spawn.
Work items know the engine only through :class:`Admission` (may a request start now?), and record
every request through the same :class:`~loadnb.metrics.stats.NameStats` calls: response time from
the intended start (open model) or the send, service time from the send, coordinated-omission
correction, error kinds and bytes are decided in one place whatever sends the request.
"""

from __future__ import annotations

import asyncio
import random
import traceback
from array import array
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from ..metrics.stats import NameStats, Recorder
from ..spec.scenario import DataExhausted, Feeder, Scenario
from ..transport.base import Chaining, Laning, OpenLane, Request, Transport
from .tracing import Tracing
from .vuser import BudgetExhausted, VirtualUser

TRACEBACK_CHARS = 2000
#: Iterations with no request after which a scenario that never sent one is warned about.
IDLE_WARNING = 100
Clock = Callable[[], float]


class Admission(Protocol):
    """The engine's side of a request start (implemented by
    :class:`~loadnb.engine.generator.Engine`).

    Its plain attributes let the hot path decide without a call: a request may start while
    ``now < end_at and started < limit`` (``end_at``: the clock at the end of the duration, -inf
    once the run is closed; ``limit``: the request count), and is counted by ``started += 1``;
    when that test fails, :meth:`admit` decides (and closes the run at a bound). ``send_lags``
    receives the send lag (actual minus intended send, seconds) of every open-model arrival.
    """

    started: int
    end_at: float
    limit: float
    send_lags: array[float]

    def admit(self, now: float | None = None) -> bool:
        """Whether a new request may start now (``now``: the clock, if just read); when it may,
        it is counted as started. Once it answers False it keeps answering False."""
        ...

    def close(self) -> None:
        """No new request from now on (the run is ending)."""
        ...


class Work(Protocol):
    """One kind of iteration."""

    def new_user(self, index: int) -> Any: ...

    def begin(self, user: Any, intended: float | None) -> Coroutine[None, None, None]: ...

    def chain(self, index: int, retiring: set[int]) -> Coroutine[None, None, None] | None:
        """A closed-model user with no think time as one chain of requests driven from the
        transport's callbacks, when the work and the transport can do that; else None."""
        ...

    def lane(self) -> OpenLane | None:
        """The open model with no task per arrival (the transport's
        :class:`~loadnb.transport.base.OpenLane`), when the work and the transport can do that;
        else None (a task per arrival)."""
        ...


class SingleRequest:
    """A target-URL test: every iteration is the run's one prepared request."""

    def __init__(self, admission: Admission, transport: Transport, acc: NameStats,
                 request: Request, is_success: Callable[[int], bool], clock: Clock,
                 tracing: Tracing | None = None) -> None:
        self.admission, self.transport, self.acc = admission, transport, acc
        self.request, self.is_success, self.clock = request, is_success, clock
        self.tracing = tracing

    def new_user(self, index: int) -> None:
        return None

    def begin(self, user: None, intended: float | None) -> Coroutine[None, None, None]:
        if not self.admission.admit():
            return asyncio.sleep(0)
        self.acc.started += 1
        return self._send(intended)

    async def _send(self, intended: float | None) -> None:
        """Send the run's request and record how it ended."""
        transport, clock, acc, tracing = self.transport, self.clock, self.acc, self.tracing
        request, trace = self.request, None
        if tracing is not None:  # a new trace per iteration: here, one request each
            trace = tracing.new_trace()
            request = Request(request.method, request.url,
                              {**request.headers, **tracing.headers(trace)}, request.body)
        sent = clock()
        if intended is not None:
            self.admission.send_lags.append(sent - intended)
        try:
            status, nbytes = await transport.send(request)
        except Exception as exc:  # noqa: BLE001 - every failure of the target is counted
            self.failed(exc)
            await asyncio.sleep(0)  # a failure can come without any wait: let the loop breathe
            return
        done = clock()
        ok = self.is_success(status)
        latency = done - (sent if intended is None else intended)
        acc.response(ok, status, latency, done - sent, nbytes)
        if trace is not None and tracing is not None:
            tracing.offer(latency, acc.name, trace, done)
        if not ok:  # evidence: the transport keeps the first failing response of each status
            samples: dict[int, str] = getattr(transport, "samples", {})
            acc.sample(f"HTTP {status}", samples.get(status) or f"HTTP/1.1 {status}")

    def chain(self, index: int, retiring: set[int]) -> Coroutine[None, None, None] | None:
        if not isinstance(self.transport, Chaining) or self.tracing is not None:
            return None
        return self.transport.drive(UserChain(self, index, retiring))

    def lane(self) -> OpenLane | None:
        if not isinstance(self.transport, Laning):
            return None
        return self.transport.lane(OpenArrivals(self))

    def record(self, status: int, latency: float, service: float, nbytes: int,
               evidence: str) -> None:
        """Record a response through :meth:`NameStats.response` (the callback-driven work
        writes the common case, a success within the expected interval, itself: see
        :class:`UserChain`), with a failing status's ``evidence``."""
        self.acc.response(self.is_success(status), status, latency, service, nbytes)
        self.record_evidence(status, evidence)

    def record_evidence(self, status: int, text: str) -> None:
        """Keep ``text`` (a status >= 400's line and first body bytes) as the sample of
        ``HTTP <status>`` when that status counts as a failure."""
        if text and not self.is_success(status):
            self.acc.sample(f"HTTP {status}", text)

    def failed(self, exc: BaseException) -> None:
        """Record a request that got no usable response."""
        self.acc.error(self.transport.classify(exc), f"{type(exc).__name__}: {exc}")


class UserChain:
    """One closed-model user of a target-URL test, driven from the fast transport's callbacks
    (a :class:`~loadnb.transport.base.Driver`): it starts, times and records each request as
    :class:`SingleRequest` does, without a coroutine per request.

    Its :meth:`done` is the closed model's hot path: a success within the expected interval is
    written into the name's :class:`NameStats` here (what :meth:`NameStats.response` does for
    one), and the next request is admitted from the engine's plain attributes (see
    :class:`Admission`); anything else goes the general way.
    """

    __slots__ = ("work", "gate", "acc", "index", "retiring", "clock", "sent", "evidence")

    def __init__(self, work: SingleRequest, index: int, retiring: set[int]) -> None:
        self.work, self.gate, self.acc = work, work.admission, work.acc
        self.index, self.retiring = index, retiring
        self.clock = work.clock
        self.sent = 0.0
        self.evidence = ""  # set by the connection before done() for a status >= 400

    def next(self) -> bool:
        return self._start(self.clock())

    def _start(self, now: float) -> bool:
        if self.index in self.retiring or not self.gate.admit(now):
            return False
        self.acc.started += 1
        self.sent = now
        return True

    def done(self, status: int, nbytes: int, more: bool) -> bool:
        now = self.clock()  # one clock read ends this request and starts the next
        took = now - self.sent
        acc = self.acc
        if status == acc.ok_code and took <= acc.expected:  # (see NameStats)
            acc.ok_n += 1
            acc.both.append(took)
            acc.bytes += nbytes
        else:
            self.work.record(status, took, took, nbytes, self.evidence)
            self.evidence = ""
        if not more:
            return False
        gate = self.gate
        if now >= gate.end_at or gate.started >= gate.limit or (
                self.retiring and self.index in self.retiring):
            return self._start(now)  # (says no, closing the run at a bound)
        gate.started += 1
        acc.started += 1
        self.sent = now
        return True

    def failed(self, exc: BaseException) -> None:
        self.work.failed(exc)


class OpenArrivals:
    """The engine's side of the fast transport's open-model
    :class:`~loadnb.transport.lane.Lane` for a target-URL test
    (:class:`~loadnb.transport.base.Arrivals`): records each arrival's response as
    :class:`UserChain` does, the response time from when it was due, the service time from its
    send."""

    __slots__ = ("work", "tally", "clock", "lags")

    def __init__(self, work: SingleRequest) -> None:
        self.work, self.tally, self.clock = work, work.acc, work.clock  # (the lane counts a
        self.lags = work.admission.send_lags  # response of ok_code in it: NameStats' own way)

    def done(self, intended: float, sent: float, now: float, status: int, nbytes: int) -> None:
        acc = self.tally
        if status == acc.ok_code:  # (see NameStats; no correction in the open model)
            acc.ok_n += 1
            acc.latency.append(now - intended)
            acc.service.append(now - sent)
            acc.bytes += nbytes
        else:
            self.work.record(status, now - intended, now - sent, nbytes, "")

    def evidence(self, status: int, text: str) -> None:
        self.work.record_evidence(status, text)

    def failed(self, intended: float, exc: BaseException) -> None:
        self.work.failed(exc)


class ScenarioWork:
    """A scenario test: every iteration runs one task (drawn by weight) for a virtual user.

    It is also the :class:`~loadnb.engine.vuser.UserContext` the users share (the pool, base URL,
    the recorder, the request budget, the error classes).
    """

    def __init__(self, admission: Admission, transport: Transport, recorder: Recorder,
                 scenario: Scenario, *, base_url: str, headers: Mapping[str, str],
                 follow_redirects: bool, feeder: Feeder | None, rng: random.Random,
                 clock: Clock, tracing: Tracing | None = None) -> None:
        opener = getattr(transport, "request", None)
        if opener is None:
            raise TypeError("scenarios run on the aiohttp transport")
        self.open: Callable[..., AbstractAsyncContextManager[Any]] = opener
        self._ws_connect: Callable[..., Any] | None = getattr(transport, "ws_connect", None)
        self.admission, self.transport, self.recorder = admission, transport, recorder
        self.scenario, self.feeder, self.rng, self.clock = scenario, feeder, rng, clock
        self.base_url = base_url
        self.headers: Mapping[str, str] = dict(headers)
        self.follow_redirects = follow_redirects
        self.tracing = tracing
        self._idle_iterations = 0
        self._warned_idle = self._any_request = False

    # UserContext
    def stats_for(self, name: str) -> NameStats:
        return self.recorder.stats_for(name)

    def begin_request(self) -> bool:
        return self.admission.admit()

    def classify(self, exc: BaseException) -> str:
        return self.transport.classify(exc)

    def ws_connect(self, url: str, **kwargs: Any) -> Any:
        if self._ws_connect is None:
            raise TypeError("WebSockets run on the aiohttp transport")
        return self._ws_connect(url, **kwargs)

    # Work
    def new_user(self, index: int) -> VirtualUser:
        return VirtualUser(self, index)

    def begin(self, user: VirtualUser, intended: float | None) -> Coroutine[None, None, None]:
        return self._iterate(user, intended)

    def chain(self, index: int, retiring: set[int]) -> None:
        return None

    def lane(self) -> None:
        return None

    async def _iterate(self, user: VirtualUser, intended: float | None) -> None:
        name, task = self.scenario.pick(self.rng)
        if self.feeder is not None:
            try:
                user.data = self.feeder.next()
            except DataExhausted:
                self.admission.close()
                return
        user.iteration += 1
        user._intended = intended
        if self.tracing is not None:
            user.trace = self.tracing.new_trace()
        if intended is not None:
            self.admission.send_lags.append(self.clock() - intended)
        sent = user.requests
        try:
            await task(user)
        except BudgetExhausted:
            return
        except Exception as exc:  # noqa: BLE001 - scenario code never crashes the run
            # a failed iteration, not a request: total_requests counts requests on the wire
            text = "".join(traceback.format_exception(exc))[-TRACEBACK_CHARS:]
            self.recorder.iteration(name, f"exception: {type(exc).__name__}", text)
        else:
            self.recorder.iteration(name)
        if user.requests != sent:
            self._any_request = True
        else:
            await self._no_request()

    async def _no_request(self) -> None:
        """An iteration that sent nothing: yield to the loop (it would hold it otherwise), and
        once the run has made no request at all in many iterations, say so."""
        self._idle_iterations += 1
        if not self._warned_idle and self._idle_iterations >= IDLE_WARNING:
            if not self._any_request:
                self._warned_idle = True
                self.recorder.warn(f"the scenario made no HTTP request in "
                                   f"{self._idle_iterations:,} iterations: its tasks must "
                                   "await user.get(...) or another request")
        await asyncio.sleep(0)


__all__ = ["Admission", "OpenArrivals", "ScenarioWork", "SingleRequest", "UserChain", "Work"]
