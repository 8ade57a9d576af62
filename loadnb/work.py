"""What one iteration of the load does: send the target URL's request, or run a scenario task.

The engine schedules iterations (users or arrivals); a :class:`Work` says what an iteration is.
``begin`` does the synchronous bookkeeping at once (so an arrival is counted the moment it is
started, even if it is cancelled before it runs) and returns the coroutine to await or spawn.
"""

from __future__ import annotations

import traceback
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .metrics import NameStats, corrected_extras
from .scenario import DataExhausted, Feeder, Scenario
from .vuser import BudgetExhausted, VirtualUser

if TYPE_CHECKING:
    from .engine import Engine

TRACEBACK_CHARS = 2000


class Work(Protocol):
    """One kind of iteration."""

    def new_user(self, index: int) -> Any: ...

    def begin(self, user: Any, intended: float | None) -> Coroutine[None, None, None]: ...


class SingleRequest:
    """A target-URL test: every iteration is the run's one prepared request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.acc: NameStats = engine.recorder.stats_for(engine.spec.request_name)

    def new_user(self, index: int) -> None:
        return None

    def begin(self, user: None, intended: float | None) -> Coroutine[None, None, None]:
        self.engine.started += 1
        self.acc.started += 1
        return self.engine.send_one(self.acc, intended)


class UserChain:
    """One closed-model user of a target-URL test, driven from the fast transport's callbacks
    (a :class:`~loadnb.transport.base.Driver`): it starts, times and records each request as
    :meth:`Engine.send_one` would, without a coroutine per request."""

    __slots__ = ("engine", "acc", "index", "retiring", "clock", "is_success", "classify",
                 "expected", "sent")

    def __init__(self, engine: Engine, acc: NameStats, index: int,
                 retiring: set[int]) -> None:
        self.engine, self.acc, self.index, self.retiring = engine, acc, index, retiring
        self.clock = engine.clock
        self.is_success = engine.spec.is_success
        self.classify = engine.transport.classify
        self.expected = engine.spec.expected_interval
        self.sent = 0.0

    def next(self) -> bool:
        return self._start(self.clock())

    def _start(self, now: float) -> bool:
        engine = self.engine
        if self.index in self.retiring or not engine.may_start(now):
            return False
        engine.started += 1
        self.acc.started += 1
        self.sent = now
        return True

    def done(self, status: int, nbytes: int, more: bool) -> bool:
        now = self.clock()  # one clock read ends this request and starts the next
        took = now - self.sent
        acc = self.acc
        acc.response(self.is_success(status), status, took, took, nbytes)
        if self.expected is not None and took > self.expected:
            acc.latency.extend(corrected_extras(took, self.expected))
        return more and self._start(now)

    def failed(self, exc: BaseException) -> None:
        self.acc.error(self.classify(exc), f"{type(exc).__name__}: {exc}")


class ScenarioWork:
    """A scenario test: every iteration runs one task (drawn by weight) for a virtual user.

    It is also the :class:`~loadnb.vuser.UserContext` the users share (the pool, base URL, the
    recorder, the request budget).
    """

    def __init__(self, engine: Engine, scenario: Scenario) -> None:
        from .transport.aio import AiohttpTransport

        transport = engine.transport
        if not isinstance(transport, AiohttpTransport):
            raise TypeError("scenarios run on the aiohttp transport")
        self.engine = engine
        self.scenario = scenario
        self.open = transport.request
        self.base_url = engine.spec.url
        self.headers: Mapping[str, str] = dict(engine.spec.headers)
        self.follow_redirects = engine.spec.follow_redirects
        rows = engine.spec.data_rows
        self.feeder = None if rows is None else Feeder(list(rows), engine.spec.data_mode,
                                                       engine.rng)

    # UserContext
    def stats_for(self, name: str) -> NameStats:
        return self.engine.recorder.stats_for(name)

    def begin_request(self) -> bool:
        if not self.engine.may_start():
            return False
        self.engine.started += 1
        return True

    def clock(self) -> float:
        return self.engine.clock()

    # Work
    def new_user(self, index: int) -> VirtualUser:
        return VirtualUser(self, index)

    def begin(self, user: VirtualUser, intended: float | None) -> Coroutine[None, None, None]:
        return self._iterate(user, intended)

    async def _iterate(self, user: VirtualUser, intended: float | None) -> None:
        name, task = self.scenario.pick(self.engine.rng)
        if self.feeder is not None:
            try:
                user.data = self.feeder.next()
            except DataExhausted:
                self.engine.close()
                return
        user.iteration += 1
        user._intended = intended
        try:
            await task(user)
        except BudgetExhausted:
            return
        except Exception as exc:  # noqa: BLE001 - scenario code never crashes the run
            acc = self.stats_for(name)
            acc.started += 1
            text = "".join(traceback.format_exception(exc))[-TRACEBACK_CHARS:]
            acc.error(f"exception: {type(exc).__name__}", text)
