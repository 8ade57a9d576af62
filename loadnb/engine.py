"""The load generator: closed model (virtual users) and open model (arrival rate).

Every task the engine starts is owned by it, and is cancelled and awaited before :meth:`Engine.run`
returns. End of a run (design.md, Semantics): at the duration or request count no new request
starts; requests in flight get until their timeout, at most ``graceful_stop``, then are cancelled.
:meth:`Engine.stop` cancels at once. Cancelled requests are counted by the recorder's final
``swap(settle=True)``, never lost and never failures.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine

from .config import LoadSpec
from .metrics import NameStats, Recorder, corrected_extras
from .transport.base import Request, Transport

Clock = Callable[[], float]


def arrival_offset(k: int, rate: float, ramp_up: float) -> float:
    """Seconds from the start at which arrival ``k`` (from 0) is due.

    The rate rises linearly from 0 to ``rate`` over ``ramp_up``, then stays: arrivals by time t
    are ``rate*t²/(2*ramp_up)`` during the ramp, so the k-th is due at ``sqrt(2*ramp_up*k/rate)``.
    """
    ramp_arrivals = rate * ramp_up / 2.0
    if k < ramp_arrivals:
        return math.sqrt(2.0 * ramp_up * k / rate)
    return ramp_up + (k - ramp_arrivals) / rate


class Engine:
    """Generates the load of one :class:`LoadSpec` through one transport into one recorder.

    Plain state (read by the monitor at each tick): ``active_users`` (users running in the closed
    model, requests in flight in the open model), ``started``, ``dropped``, ``phase``
    (``"idle"``, ``"running"``, ``"ending"``, ``"done"``).
    """

    def __init__(self, spec: LoadSpec, transport: Transport, recorder: Recorder,
                 clock: Clock = time.perf_counter) -> None:
        self.spec = spec
        self.transport = transport
        self.recorder = recorder
        self.clock = clock
        self.request = Request.from_spec(spec)
        self.t0 = math.nan
        self.ended_at = math.nan
        self._users = 0
        self.started = 0
        self.dropped = 0
        self.phase = "idle"
        self.stopped = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._requests: set[asyncio.Task[None]] = set()
        self._end = asyncio.Event()

    @property
    def active_users(self) -> int:
        """Users running (closed model) or requests in flight (open model)."""
        return self._users if self.spec.rate is None else len(self._requests)

    # -- the plan ------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds since the load started (0 before it)."""
        return 0.0 if math.isnan(self.t0) else self.clock() - self.t0

    def target_users(self, elapsed: float) -> int:
        """Users the closed model aims for at ``elapsed`` (the ramp-up line)."""
        if self.spec.rate is not None:
            return 0
        if self.spec.ramp_up <= 0 or elapsed >= self.spec.ramp_up:
            return self.spec.users
        return min(self.spec.users, 1 + int(elapsed / self.spec.ramp_up * self.spec.users))

    def target_rate(self, elapsed: float) -> float:
        """Arrivals per second the open model aims for at ``elapsed``; NaN in the closed model."""
        rate = self.spec.rate
        if rate is None:
            return math.nan
        if self.spec.ramp_up > 0 and elapsed < self.spec.ramp_up:
            return rate * elapsed / self.spec.ramp_up
        return rate

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
        spec, parts, etas = self.spec, [], []
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

    def _close(self) -> None:
        """No new request from now on: the run is ending (in-flight ones get the grace)."""
        if not self._end.is_set():
            self._end.set()
            self.phase, self.ended_at = "ending", self.clock()

    def _may_start(self) -> bool:
        if self._end.is_set():
            return False
        spec = self.spec
        if spec.requests is not None and self.started >= spec.requests:
            self._close()
            return False
        if spec.duration is not None and self.clock() - self.t0 >= spec.duration:
            self._close()
            return False
        return True

    # -- running -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Generate the load until the end (or :meth:`stop`); return when every task has ended."""
        self.t0 = self.clock()
        self.phase = "running"
        acc = self.recorder.stats_for(self.spec.request_name)
        try:
            if self.spec.rate is None:
                for i in range(self.spec.users):
                    self._spawn(self._user(i, acc))
            else:
                self._spawn(self._pacer(acc))
            await self._wait_for_end()
            self._close()
            pending = self._tasks | self._requests
            if pending and not self.stopped:
                await asyncio.wait(pending, timeout=self._grace())
        finally:
            await self._cancel_all()
            self.phase = "done"
            if math.isnan(self.ended_at):
                self.ended_at = self.clock()

    async def _wait_for_end(self) -> None:
        timeout = None if self.spec.duration is None else self.spec.duration
        try:
            await asyncio.wait_for(self._end.wait(), timeout)
        except asyncio.TimeoutError:
            self._close()

    def stop(self) -> None:
        """Stop at once: no new request, requests in flight cancelled (counted as cancelled)."""
        self.stopped = True
        self._close()
        if self.phase == "ending":
            for task in self._tasks | self._requests:
                task.cancel()

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks | self._requests)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._requests.clear()

    def _spawn(self, coro: Coroutine[None, None, None],
               owner: set[asyncio.Task[None]] | None = None) -> None:
        tasks = self._tasks if owner is None else owner
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _one(self, acc: NameStats, intended: float | None) -> None:
        """Send one request and record how it ended (cancellation is settled by the recorder)."""
        transport, clock = self.transport, self.clock
        sent = clock()
        try:
            status, nbytes = await transport.send(self.request)
        except Exception as exc:  # noqa: BLE001 - every failure of the target is counted
            acc.error(transport.classify(exc), f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0)  # a failure can come without any wait: let the loop breathe
            return
        done = clock()
        start = sent if intended is None else intended
        acc.response(self.spec.is_success(status), status, done - start, done - sent, nbytes)
        expected = self.spec.expected_interval
        if expected is not None and done - start > expected:
            acc.latency.extend(corrected_extras(done - start, expected))

    async def _user(self, index: int, acc: NameStats) -> None:
        """One virtual user of the closed model: wait for its ramp-up slot, then loop."""
        spec = self.spec
        if spec.ramp_up > 0 and index:
            await asyncio.sleep(spec.ramp_up * index / spec.users)
        self._users += 1
        try:
            while self._may_start():
                self.started += 1
                acc.started += 1
                await self._one(acc, None)
                if spec.think_time > 0:
                    await asyncio.sleep(spec.think_time)
        finally:
            self._users -= 1
        if not self._end.is_set() and self._users == 0:
            self._close()

    async def _pacer(self, acc: NameStats) -> None:
        """The open model: start every arrival whose intended time has passed at each wake-up."""
        spec, clock, t0 = self.spec, self.clock, self.t0
        rate = spec.rate
        assert rate is not None
        duration = math.inf if spec.duration is None else spec.duration
        limit = math.inf if spec.requests is None else spec.requests
        k = 0
        while not self._end.is_set():
            due = arrival_offset(k, rate, spec.ramp_up)
            now = clock() - t0
            while due <= now:
                if due >= duration or self.started >= limit:
                    self._close()
                    return
                if len(self._requests) < spec.max_in_flight:
                    self.started += 1
                    acc.started += 1
                    self._spawn(self._one(acc, t0 + due), self._requests)
                else:
                    self.dropped += 1
                k += 1
                due = arrival_offset(k, rate, spec.ramp_up)
            if due >= duration or self.started >= limit:
                await asyncio.sleep(max(0.0, min(due, duration) - now))
                self._close()
                return
            await asyncio.sleep(due - now)
