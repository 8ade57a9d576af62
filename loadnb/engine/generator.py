"""The load generator: closed model (virtual users) and open model (arrival rate).

The target load over time comes from the spec's :class:`~loadnb.spec.shape.LoadShape` (constant,
ramp-up, stages, or a function) or from a live override (:meth:`Engine.set_target`). Every task
the engine starts is owned by it, and is cancelled and awaited before :meth:`Engine.run` returns.
End of a run (design.md, Semantics): at the duration or request count no new request starts;
requests in flight get until their timeout, at most ``graceful_stop``, then are cancelled.
:meth:`Engine.stop` cancels at once. Cancelled requests are counted by the recorder's final
``swap(settle=True)``, never lost and never failures.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import time
from array import array
from collections.abc import Callable, Coroutine

from ..metrics.stats import NameStats, Recorder
from ..spec.config import LoadSpec
from ..spec.scenario import Feeder
from ..spec.shape import LoadShape
from ..transport.base import OpenLane, Request, Transport
from .arrivals import OpenModel
from .timer import PACER_STEP, Pacer, PreciseSleeper
from .tracing import Tracing
from .work import ScenarioWork, SingleRequest, Work

Clock = Callable[[], float]
#: How often the closed model's controller matches the running users to the target (seconds).
CONTROL_STEP = 0.05


class Engine(OpenModel):
    """Generates the load of one :class:`LoadSpec` through one transport into one recorder.

    Plain state (read by its :class:`~loadnb.engine.source.LocalSource` at each tick):
    ``active_users`` (users running in the closed model, requests or iterations in flight in the
    open model), ``started``, ``dropped``, ``phase`` (``"idle"``, ``"running"``, ``"ending"``,
    ``"done"``) and ``events`` (live changes, as ``(elapsed, text)``). It is the work items'
    :class:`~loadnb.engine.work.Admission`: :meth:`admit` decides whether a request may start.

    The open model runs on the transport's :class:`~loadnb.transport.base.OpenLane` when the work
    has one (the fast transport, a target-URL test): the pacer's wake-up writes each due arrival
    straight into a connection, with no task per arrival; otherwise each arrival is a task
    (:class:`~loadnb.engine.arrivals.OpenModel`). ``closed``, ``end_at``, ``limit`` and
    ``started`` let the hot path decide without a call.
    """

    def __init__(self, spec: LoadSpec, transport: Transport, recorder: Recorder,
                 clock: Clock = time.perf_counter) -> None:
        self.spec = spec
        self.transport = transport
        self.recorder = recorder
        self.clock = clock
        self.shape: LoadShape = spec.load_shape()
        self.t0 = math.nan
        self.ended_at = math.nan
        self.started = 0
        self.dropped = 0
        self.phase = "idle"
        self.stopped = False
        self.end_at = math.inf  # the clock at the end of the duration (set when the run starts)
        self.limit: float = math.inf if spec.requests is None else spec.requests
        self.send_lags: array[float] = array("d")  # open model: actual - intended send, seconds
        self.events: list[tuple[float, str]] = []
        self._events_taken = 0
        self.rng = random.Random(spec.seed)
        self._override: float | None = None
        self._users: dict[int, asyncio.Task[None]] = {}
        self._retiring: set[int] = set()
        self._thinking: set[int] = set()
        self._next_user = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._requests: set[asyncio.Task[None]] = set()
        self._end = asyncio.Event()
        self.closed = False  # _end.is_set(), read on the hot path without a method call
        self.tracing = Tracing(spec.observe.run_id or "loadnb") if spec.observe.trace else None
        self.work: Work = self._make_work()
        self._lane: OpenLane | None = None
        self._acc: NameStats  # the lane's one name (set with the lane)
        self._cap = spec.max_in_flight
        self._pacer: Pacer | None = None
        self._sleeper: PreciseSleeper | None = None
        self._pacer_error: BaseException | None = None
        self._ticking = False

    def _make_work(self) -> Work:
        spec, transport, clock = self.spec, self.transport, self.clock
        if spec.scenario is None:
            acc = self.recorder.stats_for(spec.request_name)
            request = Request.of(spec.transport_options())
            return SingleRequest(self, transport, acc, request, spec.is_success, clock,
                                 self.tracing)
        rows = spec.data_rows
        feeder = None if rows is None else Feeder(list(rows), spec.data_mode, self.rng)
        return ScenarioWork(self, transport, self.recorder, spec.scenario, base_url=spec.url,
                            headers=spec.headers, follow_redirects=spec.follow_redirects,
                            feeder=feeder, rng=self.rng, clock=clock, tracing=self.tracing)

    def take_slowest(self) -> list[tuple[float, str, float, str]]:
        """The interval's slowest traced requests (none without ``trace``)."""
        return [] if self.tracing is None else self.tracing.take(self.t0)

    # -- the plan ------------------------------------------------------------------------------
    @property
    def active_users(self) -> int:
        """Users running (closed model) or requests/iterations in flight (open model)."""
        if self.spec.rate is None:
            return len(self._users) - len(self._retiring)
        return len(self._requests) + (0 if self._lane is None else self._lane.in_flight)

    def elapsed(self) -> float:
        """Seconds since the load started (0 before it)."""
        return 0.0 if math.isnan(self.t0) else self.clock() - self.t0

    def target(self, elapsed: float) -> float:
        """The load aimed for at ``elapsed``: the live override, else the shape."""
        return self._override if self._override is not None else self.shape.target(elapsed)

    def target_users(self, elapsed: float) -> int:
        """Users the closed model aims for at ``elapsed`` (0 in the open model)."""
        return 0 if self.spec.rate is not None else int(round(self.target(elapsed)))

    def target_rate(self, elapsed: float) -> float:
        """Arrivals per second the open model aims for at ``elapsed``; NaN in the closed model."""
        return math.nan if self.spec.rate is None else self.target(elapsed)

    def set_target(self, value: float) -> None:
        """Change the load now (users or arrivals/s) for the rest of the run; takes effect within
        one control step (50 ms), and is recorded in ``events``."""
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"the target load must be a number >= 0, got {value!r}")
        self._override = float(value)
        if self._pacer is not None:
            self._pacer.changed()
        unit = "users" if self.spec.rate is None else "req/s"
        self.events.append((self.elapsed(), f"set to {value:g} {unit}"))

    def take_events(self) -> list[tuple[float, str]]:
        """Live changes made since the last call (the source reports them once)."""
        new = self.events[self._events_taken:]
        self._events_taken += len(new)
        return new

    def progress(self, elapsed: float) -> tuple[float, float]:
        """``(percent done, estimated seconds left)`` for duration- and count-bounded runs.

        Once no new request may start it is 100 % (the grace period is what is left), except for
        a stopped run, whose progress stays where the stop found it.
        """
        if self.phase in ("ending", "done"):
            left = 0.0 if self.phase == "done" or self.stopped else max(0.0, self._grace_left())
            if not self.stopped:
                return 100.0, left
            return self._planned(self.ended_at - self.t0)[0], left
        return self._planned(elapsed)

    def _planned(self, elapsed: float) -> tuple[float, float]:
        spec, parts, etas = self.spec, [0.0], []
        if spec.duration is not None:
            parts.append(min(1.0, elapsed / spec.duration))
            etas.append(max(0.0, spec.duration - elapsed))
        if spec.requests is not None:
            parts.append(min(1.0, self.started / spec.requests))
            pace = self.started / elapsed if elapsed > 0 else 0.0
            left = spec.requests - self.started
            etas.append(left / pace if pace > 0 else math.nan)
        known = [e for e in etas if not math.isnan(e)]
        return 100.0 * max(parts), (min(known) if known else math.nan)

    def _grace_left(self) -> float:
        return self.ended_at + self._grace() - self.clock()

    def _grace(self) -> float:
        return min(self.spec.timeout, self.spec.graceful_stop)

    def close(self) -> None:
        """No new request from now on: the run is ending (in-flight ones get the grace)."""
        if not self.closed:
            self.closed = True
            self.end_at = -math.inf  # (the hot path's test: no request starts from now on)
            if self._lane is not None:
                self._lane.due_at = math.inf
            if self._sleeper is not None:  # (the pacer's timer ticks no more)
                self._sleeper.cancel()
            self._end.set()
            self.phase, self.ended_at = "ending", self.clock()
            for index in list(self._thinking):  # nothing in flight: no grace to wait for
                self._users[index].cancel()

    def may_start(self, now: float | None = None) -> bool:
        """Whether a new request may start now; once a bound is reached it closes the run and
        answers False from then on. ``now``: the clock, when the caller has just read it."""
        if self.closed:
            return False
        if self.started >= self.limit or (self.clock() if now is None else now) >= self.end_at:
            self.close()
            return False
        return True

    def admit(self, now: float | None = None) -> bool:
        """:meth:`may_start`, counting the request as started when it may (the work items'
        :class:`~loadnb.engine.work.Admission`)."""
        if not self.may_start(now):
            return False
        self.started += 1
        return True

    # -- running -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Generate the load until the end (or :meth:`stop`); return when every task has ended.

        The objects that exist when it starts are frozen for the garbage collector
        (:func:`gc.freeze`) until it ends: a full collection then scans only what the run
        made, not the process's whole heap (a notebook's: numpy, pandas, Bokeh), which held
        the loop for 20 ms and more at a time, and every arrival due meanwhile.
        """
        if self.spec.rate is not None:
            self.ready_pacer()
        gc.freeze()
        self.t0 = self.clock()
        if self.spec.duration is not None:
            self.end_at = self.t0 + self.spec.duration
        self.phase = "running"
        try:
            if self.spec.rate is None:
                self.spawn(self._controller())
            else:
                self._start_pacer()
            await self._wait_for_end()
            self.close()
            await self._grace_period()
        finally:
            gc.unfreeze()
            await self._cancel_all()
            self.phase = "done"
            if math.isnan(self.ended_at):
                self.ended_at = self.clock()
        if self._pacer_error is not None:
            raise self._pacer_error

    async def _grace_period(self) -> None:
        """Give the requests in flight the grace to end (none after a stop)."""
        if self.stopped:
            return
        loop = asyncio.get_running_loop()
        until = loop.time() + self._grace()
        pending = self._tasks | self._requests
        if pending:
            await asyncio.wait(pending, timeout=self._grace())
        if self._lane is not None:
            await self._lane.drain(max(0.0, until - loop.time()))

    async def _wait_for_end(self) -> None:
        duration = self.spec.duration
        if duration is not None and self.spec.rate is not None:
            duration += 2 * PACER_STEP  # the pacer closes the run itself, after its last arrival
        try:
            await asyncio.wait_for(self._end.wait(), duration)
        except asyncio.TimeoutError:
            self.close()

    def stop(self) -> None:
        """Stop at once: no new request, requests in flight cancelled (counted as cancelled)."""
        self.stopped = True
        self.close()
        for task in self._tasks | self._requests:
            task.cancel()
        if self._lane is not None:
            self._lane.close()

    async def _cancel_all(self) -> None:
        if self._sleeper is not None:
            self._sleeper.close()
        if self._lane is not None:
            await self._lane.aclose()
        tasks = list(self._tasks | self._requests)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._requests.clear()

    def spawn(self, coro: Coroutine[None, None, None],
              owner: set[asyncio.Task[None]] | None = None) -> asyncio.Task[None]:
        """Start ``coro`` as a task the engine owns (cancelled and awaited at the end)."""
        tasks = self._tasks if owner is None else owner
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    # -- closed model --------------------------------------------------------------------------
    async def _controller(self) -> None:
        """Keep the number of running users at the target (ramps, stages, live changes)."""
        while not self._end.is_set():
            self._match_users(self.target_users(self.clock() - self.t0))
            await asyncio.sleep(CONTROL_STEP)

    def _match_users(self, want: int) -> None:
        running = [i for i in self._users if i not in self._retiring]
        for index in sorted(running, reverse=True)[: max(0, len(running) - want)]:
            self._retiring.add(index)
        for _ in range(max(0, want - len(running))):
            index, self._next_user = self._next_user, self._next_user + 1
            self._users[index] = self.spawn(self._user(index))

    async def _user(self, index: int) -> None:
        """One virtual user: iterate until the run ends or the controller retires it, pausing
        after each iteration for the think time (or until the next pacing slot)."""
        spec = self.spec
        pauses = spec.think_time > 0 or bool(spec.think_time_max) or spec.pacing is not None
        state = self.work.new_user(index)
        try:
            chain = None if pauses else self.work.chain(index, self._retiring)
            if chain is not None:
                await chain
                return
            while index not in self._retiring and self.may_start():
                began = self.clock()
                await self.work.begin(state, None)
                pause = self._pause(began)
                if pause > 0:
                    self._thinking.add(index)
                    try:
                        await asyncio.sleep(pause)
                    finally:
                        self._thinking.discard(index)
        finally:
            self._users.pop(index, None)
            self._retiring.discard(index)

    def _pause(self, began: float) -> float:
        """Seconds to wait before a user's next iteration (``began``: when this one started)."""
        spec = self.spec
        if spec.pacing is not None:
            return spec.pacing - (self.clock() - began)
        if spec.think_time_max is not None:
            return self.rng.uniform(spec.think_time, spec.think_time_max)
        return spec.think_time


__all__ = ["Clock", "Engine"]
