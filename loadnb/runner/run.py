"""Run: the composition root of one load test, and its state machine.

``idle → running → stopping → done | stopped | failed`` (:class:`~loadnb.record.state.RunState`,
the one vocabulary of the run, its record, the history and the faces). A Run owns the
:class:`~loadnb.record.record.RunRecord` from its first moment and its
:class:`~loadnb.runner.monitor.Monitor`, the record's one writer, and wires the rest around them:
a backend that generates the load (the engine in this process,
:class:`~loadnb.engine.backend.LocalBackend`, or Dask workers), the alert engine and the
threshold judge the monitor consults at every tick, and the sinks it hands each
:class:`~loadnb.record.update.Update` to: the history writer first, then every face. It runs as
one task on the current event loop, so in a notebook the cell returns at once.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engine.assembly import TransportFactory
from ..engine.backend import Backend, LocalBackend
from ..engine.generator import Clock
from ..engine.loop import run_to_end
from ..metrics.snapshot import Snapshot
from ..record.accounting import check_accounting
from ..record.record import RunRecord
from ..record.state import RunState
from ..record.update import Update
from ..results.result import Result
from ..rules.alert_engine import AlertEngine, AlertRule, Listener
from ..rules.alerts import default_rules
from ..rules.notify import Webhook
from ..spec.config import LoadSpec, spec_of
from ..transport import make_transport
from .judge import IntervalView, ThresholdJudge
from .monitor import Monitor, Sink
from .observing import open_observing, with_run_id

if TYPE_CHECKING:
    from ..history import HistoryWriter

StateListener = Callable[["Run"], None]


def live_users(value: object) -> int:
    """A live change of users: a whole number >= 0 (``ValueError`` otherwise)."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or value != int(value) or value < 0):
        raise ValueError(f"users must be a whole number >= 0, got {value!r}")
    return int(value)


def live_rate(value: object) -> float:
    """A live change of the arrival rate: a number >= 0 (``ValueError`` otherwise)."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or value < 0):
        raise ValueError(f"rate must be a number >= 0, got {value!r}")
    return float(value)


def rules_of(spec: LoadSpec) -> list[AlertRule]:
    """The alert rules a run of ``spec`` judges: its own, or the defaults."""
    if spec.alerts is not None:
        return list(spec.alerts)
    return default_rules(pool_size=spec.pool_size, max_in_flight=spec.max_in_flight,
                         timeout=spec.timeout)


class Run:
    """One load test: start it, watch it, stop it, read its results (live, from its record).

    Example (in a notebook cell, or any coroutine)::

        run = Run(make_spec("http://127.0.0.1:8000/", users=10, duration="5s"))
        run.subscribe(lambda snap: print(snap.current_rps))
        run.start()
        result = await run.wait()

    ``cpu_from`` / ``started_at``: the CPU reading (``time.process_time()``) and wall time the
    summary's ``startup_cpu_s`` / ``startup_s`` count from (None: the run's start); ``loadnb
    run`` gives its process's start, so the interpreter and imports are start-up too."""

    def __init__(self, spec: LoadSpec, *, transport: TransportFactory | None = None,
                 clock: Clock = time.perf_counter, cpu_from: float | None = None,
                 started_at: float | None = None) -> None:
        run_id = uuid.uuid4().hex[:12]
        self.spec = spec = with_run_id(spec, run_id)
        self.record = RunRecord(run_id, spec, state=RunState.IDLE)
        self.result = Result(self.record)
        self.error: BaseException | None = None
        self._transport_factory = transport or make_transport
        self._clock, self._cpu_from, self._started_at = clock, cpu_from, started_at
        self._sinks: list[Sink] = []
        self.monitor = Monitor(
            [], self.record, self._sinks, interval=spec.interval, clock=clock,
            alerts=AlertEngine(rules_of(spec), interval=IntervalView(self.record)),
            judge=ThresholdJudge(spec.thresholds, self.record, abort=spec.abort_on_fail,
                                 grace=spec.abort_grace, planned_requests=spec.requests),
            on_abort=lambda expr: self.stop())
        assert self.monitor.alerts is not None
        self.monitor.alerts.warn = self.monitor.warn
        self._hooks = self._webhooks()
        self._state_listeners: list[StateListener] = []
        self._task: asyncio.Task[None] | None = None
        self._ended = False
        self._backend: Backend | None = None
        self._pending_target: float | None = None
        self._writer: HistoryWriter | None = None

    def _webhooks(self) -> list[Webhook]:
        hooks: list[Webhook] = []
        spec = self.spec
        for target in spec.notify:
            if isinstance(target, str):
                hook = Webhook(target, run_id=self.run_id, warn=self.monitor.warn,
                               target=spec.target if spec.scenario else
                               f"{spec.method} {spec.target}")
                hooks.append(hook)
                self.on_alert(hook)
            else:
                self.on_alert(target)
        return hooks

    @property
    def run_id(self) -> str:
        """The run's id (12 hex digits)."""
        return self.record.run_id

    @property
    def state(self) -> RunState:
        """The run's state (its record's): idle, running, stopping, done, stopped or failed."""
        return RunState(self.record.state)

    # -- observing -------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call ``fn(snapshot)`` for every snapshot from now on; returns an unsubscribe function.

        A subscriber is called after the snapshot is in the record and the alert rules and
        thresholds have judged it. One that raises is removed and its error becomes a warning
        of the run: a face can never stop the load.
        """
        def sink(update: Update) -> None:
            fn(update.snapshot)

        sink.__qualname__ = getattr(fn, "__qualname__", repr(fn))
        return self.watch(sink)

    def watch(self, fn: Sink) -> Callable[[], None]:
        """Call ``fn(update)`` with every :class:`~loadnb.record.update.Update` (the snapshot and
        what came with it: alert news, thresholds, custom rows, warnings) from now on; returns an
        unsubscribe function. What faces use, so that they never read the record back."""
        self._sinks.append(fn)
        return lambda: self._sinks.remove(fn) if fn in self._sinks else None

    def on_alert(self, fn: Listener) -> None:
        """Call ``fn(event, "fired" | "cleared")`` when an alert rule fires or clears."""
        self.monitor.on_alert(fn)

    def on_state(self, fn: StateListener) -> None:
        """Call ``fn(run)`` at every state change (running, stopping, done, stopped, failed)."""
        self._state_listeners.append(fn)

    @property
    def snapshots(self) -> list[Snapshot]:
        """Snapshots so far (live during the run)."""
        return self.record.snapshots

    @property
    def warnings(self) -> list[str]:
        """Plain-language warnings raised during the run."""
        return self.record.warnings

    @property
    def done(self) -> bool:
        """Whether the run has ended (done, stopped or failed) and told its state listeners so:
        its record and result are final."""
        return self._ended

    # -- controlling -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the run as a task on the running event loop and return at once."""
        if self.state != RunState.IDLE:
            raise RuntimeError(f"this run is {self.state}; a Run starts once (make a new one)")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("Run.start() needs a running event loop: in a script use "
                               "loadnb.run(...), in a notebook `await test.run()`") from None
        self._set_state(RunState.RUNNING)
        self._task = loop.create_task(self._main(), name=f"loadnb-run-{self.run_id}")
        self._task.add_done_callback(self._finished)

    def stop(self) -> None:
        """Stop now: no new requests, requests in flight cancelled; the final snapshot follows."""
        if self.state == RunState.RUNNING:
            self._set_state(RunState.STOPPING)
            if self._backend is not None:
                self._backend.stop()

    def set_users(self, users: int) -> None:
        """Change the number of virtual users now (closed model); within one interval."""
        users = live_users(users)
        if self.spec.rate is not None:
            raise ValueError("set_users applies to the closed model; this run has a rate")
        self._set_target(float(users))

    def set_rate(self, rate: float) -> None:
        """Change the arrival rate now (open model); within one interval."""
        rate = live_rate(rate)
        if self.spec.rate is None:
            raise ValueError("set_rate applies to the open model; this run has users")
        self._set_target(rate)

    def _set_target(self, value: float) -> None:
        if self.state != RunState.RUNNING:
            raise RuntimeError(f"the run is {self.state}: live changes need a running run")
        if self._backend is None:  # started, but its task has not run yet: apply when it does
            self._pending_target = value
        else:
            self._backend.set_target(value)

    async def wait(self) -> Result:
        """Wait for the end of the run and return its :class:`Result` (re-raises a failure)."""
        if self._task is None:
            raise RuntimeError("the run has not been started")
        await asyncio.shield(self._task)
        if self.error is not None:
            raise self.error
        return self.result

    async def run(self) -> Result:
        """Start (if needed) and wait; if the waiting is cancelled (Ctrl-C), stop the run first."""
        if self.state == RunState.IDLE:
            self.start()
        try:
            return await self.wait()
        except asyncio.CancelledError:
            self.stop()
            if self._task is not None:
                await asyncio.wait({self._task}, timeout=self.spec.graceful_stop + 1)
            raise

    # -- internals -------------------------------------------------------------------------
    def _set_state(self, state: RunState) -> None:
        self.monitor.set_state(state)
        self._tell_state()

    def _tell_state(self) -> None:
        for fn in list(self._state_listeners):
            try:
                fn(self)
            except Exception as exc:  # noqa: BLE001 - a face must not break the run
                self.monitor.warn(f"state listener {fn!r} failed: {exc!r}")

    async def _main(self) -> None:
        observing = await open_observing(self.spec, self.run_id, self.monitor, self._sinks)
        try:
            await self._load()
        finally:
            if observing is not None:  # after the final snapshot: the exporters' last values
                await observing.aclose()

    async def _load(self) -> None:
        spec, monitor = self.spec, self.monitor
        self.record.started_at = self._started_at or time.time()  # (its clock: with the load)
        monitor.run_started(self._cpu_from)  # and its start-up's CPU
        backend = await self._open_backend()
        monitor.started(backend.name)
        monitor.sources = list(backend.sources)
        if self.state == RunState.STOPPING:
            backend.stop()
        if self._pending_target is not None:
            backend.set_target(self._pending_target)
        if spec.insecure:
            monitor.warn("TLS certificates are not verified (insecure=True)")
        self._open_history()
        ticker: list[asyncio.Task[None]] = []

        def load_started() -> None:
            """The backend's load started (``backend.lag`` ago): so do the run's clock and its
            ticks."""
            monitor.begin(behind=backend.lag)
            ticker.append(asyncio.get_running_loop().create_task(monitor.run()))

        try:
            await backend.run(load_started)
        finally:
            await self._end(backend, ticker)
        if os.environ.get("LOADNB_DEBUG") == "1":
            check_accounting(self.record)

    async def _end(self, backend: Backend, ticker: list[asyncio.Task[None]]) -> None:
        """Stop the ticks, close the backend, write the final state and the final snapshot."""
        monitor = self.monitor
        for task in ticker:
            task.cancel()
        await asyncio.gather(*ticker, return_exceptions=True)
        if not ticker:  # the load never started: the final snapshot closes an empty run
            monitor.begin()
        ended = self._load_end(backend, monitor.t0)  # closing (a cluster) is not load
        await backend.aclose()
        monitor.set_state(RunState.STOPPED if backend.stopped else RunState.DONE)
        monitor.tick(final=True, end=ended)
        for hook in self._hooks:
            await hook.aclose()
        monitor.flush()

    def _load_end(self, backend: Backend, t0: float) -> float:
        """The clock's reading when the load ended: now, or when the backend's sources say it
        did (never before the last snapshot)."""
        lasted = backend.load_seconds
        end = self._clock() if math.isnan(lasted) else t0 + lasted
        last = self.record.snapshots[-1].elapsed_time if self.record.snapshots else 0.0
        return max(end, t0 + last)

    async def _open_backend(self) -> Backend:
        """The backend that generates the load: Dask worker processes when the spec asks for
        ``workers`` or a ``cluster`` (Dask is imported only then), else the engine in this
        process."""
        if self.spec.workers is not None or self.spec.cluster is not None:
            from ..distributed.backend import DaskBackend

            dask = DaskBackend(self.spec, run_id=self.run_id, warn=self.monitor.warn,
                               clock=self._clock)
            await dask.open()
            self._backend = dask
            return dask
        local = LocalBackend(self.spec, self._transport_factory, self._clock,
                             warn=self.monitor.warn)
        await local.open()
        self._backend = local
        return local

    def _open_history(self) -> None:
        """Keep the run in the history as it goes (the first sink), unless ``history="off"``."""
        if self.spec.history == "off":
            return
        from ..history import open_writer

        try:
            writer = open_writer(self.record)
        except Exception as exc:  # noqa: BLE001 - no history is no reason to refuse the load
            self.monitor.warn(f"the run is not kept in the history: {exc}")
            return
        if writer is not None:
            self._writer = writer
            self._sinks.insert(0, writer)

    def _close_history(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()
        except Exception as exc:  # noqa: BLE001 - the run's own result stands
            self.monitor.warn(f"the end of the run was not written to the history: {exc}")

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            self.monitor.set_state(RunState.STOPPED)
        elif task.exception() is not None:
            exc = task.exception()
            self.error = exc
            self.monitor.set_state(RunState.FAILED, f"{type(exc).__name__}: {exc}")
        self.monitor.flush()
        self._close_history()
        self.monitor.flush()
        self._ended = True
        self._tell_state()


async def arun(url_or_scenario: object = None, /, **params: Any) -> Result:
    """Run a load test on the current event loop and return its result (the notebook way).

    Example::

        result = await loadnb.arun("http://127.0.0.1:8000/", rate=200, duration="5s")
    """
    return await Run(spec_of(url_or_scenario, params)).run()


def run(url_or_scenario: object = None, /, **params: Any) -> Result:
    """Run a load test to the end and return its result (blocking; for scripts).

    Outside an event loop it runs on a new one (uvloop when installed). Inside a running loop (a
    notebook cell) it blocks that loop through nest-asyncio2: widget clicks are not handled until
    it returns, so in a notebook prefer ``await loadnb.arun(...)`` or the ``LoadTest`` widget
    (:func:`~loadnb.engine.loop.run_to_end`). The first argument is the URL, or a scenario whose
    base URL is then ``url=``; the others are those of :func:`loadnb.make_spec` (the same as
    ``LoadTest``'s); bad ones raise ``ValueError`` before anything starts.
    """
    spec = spec_of(url_or_scenario, params)
    return run_to_end(Run(spec).run())


__all__ = ["Run", "StateListener", "arun", "live_rate", "live_users", "rules_of", "run"]
