"""The driver side of scale-out: :class:`DaskBackend` and one :class:`WorkerSource` per worker.

The backend starts (``workers=N``: a ``LocalCluster`` of N single-threaded worker processes on
127.0.0.1) or joins (``cluster=``: a kept ``loadnb.cluster``, or an existing scheduler; nothing
is started or closed there) a Dask cluster (:mod:`~loadnb.distributed.connect`), checks every
worker runs the same loadnb version, sends the workers the scenario files the run needs
(:mod:`~loadnb.distributed.files`), and submits one long task per worker
(:func:`~loadnb.distributed.worker.run_share`, pinned to that worker, with the spec pickled
here: the scheduler never unpickles it). Start-up is not load: every share says when it is
ready, and once all are the backend starts them together and calls ``on_start``, where the run's
clock starts. Workers publish their intervals with ``log_event``; the driver's subscription
hands each to its worker's source, which buffers them until the monitor's next tick: intervals
are merged on the driver's boundaries, whatever the workers' clocks. On a large cluster the
workers fan in (:mod:`~loadnb.distributed.fanin`): groups' leaders merge their members' intervals
and the driver merges one part per group (:class:`~loadnb.distributed.grouped.GroupedSource`);
when a leader is lost, its members publish directly from then on. Stops and live changes go
out with ``client.run``.

A worker that dies mid-run is a warning, not a failure: the rest go on, everything it sent is
kept, and its requests started and never ended are counted as cancelled. A run that loses every
worker, or whose share fails on a worker, fails (one line saying why).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ..engine.source import Source
from ..spec.config import LoadSpec
from .cluster import TOPIC, is_worker_loss, loss_reason, one_line, transport_name
from .connect import CALL_TIMEOUT, Connection, check_versions, connect_cluster, disconnect
from .fanin import Group, plan_groups
from .files import Module, forget_modules, scenario_modules, send_files
from .grouped import GroupedSource
from .leader import end_wait
from .source import ClusterSource, WorkerSource
from .split import split_target
from .worker import fail_over, run_share, set_target, start_run, stop_run

#: Longest wait for a worker's last intervals once its task has returned (seconds).
ARRIVAL_GRACE = 2.0
#: How often the backend checks its workers are still in the cluster (seconds).
WATCH_EVERY = 1.0
#: Longest wait for the workers to get ready (their share built, scenario files run; seconds).
READY_TIMEOUT = 60.0
#: Longest lag of the run's clock behind the workers' (seconds).
CLOCK_LAG = 0.25


class DaskBackend:
    """The load from Dask worker processes (:class:`~loadnb.engine.backend.Backend`).

    Example::

        backend = DaskBackend(spec, run_id="abc", warn=print)
        await backend.open()        # start or join the cluster, check the workers
        monitor = Monitor(backend.sources, record, sinks, interval=spec.interval)
        await backend.run(on_start=monitor.begin); await backend.aclose()
    """

    def __init__(self, spec: LoadSpec, *, run_id: str, warn: Callable[[str], None],
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.spec, self.run_id, self._warn, self._clock = spec, run_id, warn, clock
        self.name = transport_name(spec)
        #: The run's clock runs this far behind the workers' (seconds): each interval of theirs
        #: has reached the driver when the monitor closes its own (they take a few ms).
        self.lag = min(spec.interval / 2, CLOCK_LAG)
        self._lasted = math.nan
        self.client: Any = None
        self.cluster: Any = None
        self.address = ""
        self.worker_addresses: list[str] = []
        self._sources: list[WorkerSource] = []
        self._cluster_source: ClusterSource | GroupedSource = ClusterSource([])
        self.groups: list[Group] = []
        self._stopped = False
        self._running = False
        self._futures: list[Any] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._warned: set[str] = set()
        self._modules: list[Module] = []
        self._news = asyncio.Event()  # a share got ready or ended
        self._lost_why = ""
        self._t0 = math.nan

    # -- opening -------------------------------------------------------------------------------
    async def open(self) -> None:
        """Start (``workers``) or join (``cluster``) the cluster and check its workers."""
        try:
            connection = await connect_cluster(self.spec)
            self.client, self.cluster = connection.client, connection.cluster
            self.address = connection.address
            self.worker_addresses = await check_versions(self.client, self.address)
            self._sources = [WorkerSource(i, addr)
                             for i, addr in enumerate(self.worker_addresses)]
            self.groups = plan_groups(len(self._sources))
            self._cluster_source = (GroupedSource(self._sources) if self.groups
                                    else ClusterSource(self._sources))
            self._modules = scenario_modules(self.spec)
            await send_files(self.client, self.run_id, self._modules, self.worker_addresses,
                             READY_TIMEOUT)
        except BaseException:
            await self.aclose()
            raise

    # -- the Backend protocol ------------------------------------------------------------------
    @property
    def sources(self) -> Sequence[Source]:
        """One source for every worker (merged in a few numpy passes, whatever their number)."""
        return [self._cluster_source] if self._sources else []

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def load_seconds(self) -> float:
        """How long the longest share's load lasted, as its worker measured it (NaN: none
        ended)."""
        return self._lasted

    @property
    def running(self) -> bool:
        """Whether any worker's share may still be running (False once :meth:`run` has seen
        every share end or its worker lost)."""
        return self._running

    async def run(self, on_start: Callable[[], None]) -> None:
        """Run one share per worker, started together once all are ready (``on_start`` is called
        then); return when every share has ended and its intervals have arrived (or its worker
        is lost). Raises when a share failed, or every worker was lost."""
        assert self.client is not None, "open() the backend first"
        if self._stopped:
            return
        client: Any = self.client
        client.subscribe_topic(TOPIC, self._on_event)
        import cloudpickle  # type: ignore[import-untyped]  # (a dependency of distributed)

        shared = dataclasses.replace(
            self.spec, workers=None, cluster=None, alerts=(), thresholds=(), notify=(),
            history="off", abort_on_fail=False)
        blob = cloudpickle.dumps(shared)  # bytes: the scheduler passes them on untouched
        n = len(self._sources)
        self._running = True
        group_of = {i: (g.number, list(g.members)) for g in self.groups for i in g.members}
        self._futures = [
            client.submit(run_share, blob, self._modules, self.run_id, s.index, n, TOPIC,
                          group_of.get(s.index), key=f"loadnb-{self.run_id}-{s.index}",
                          workers=[s.address], allow_other_workers=False, pure=False)
            for s in self._sources]
        loop = asyncio.get_running_loop()
        waits = [loop.create_task(self._await_share(s, f))
                 for s, f in zip(self._sources, self._futures, strict=True)]
        for task in waits:
            task.add_done_callback(lambda _: self._news.set())
        watcher = loop.create_task(self._watch(waits))
        try:
            await self._start(waits, on_start)
            outcomes = await asyncio.gather(*waits, return_exceptions=True)
        finally:
            watcher.cancel()
            for task in waits:
                task.cancel()
            await asyncio.gather(watcher, *waits, return_exceptions=True)
            self._running = False
            client.unsubscribe_topic(TOPIC)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        if all(s.lost for s in self._sources):
            raise RuntimeError(f"every worker was lost ({self._lost_why}); the run cannot go on")

    async def _start(self, waits: list[asyncio.Task[None]], on_start: Callable[[], None]) -> None:
        """Wait until every share is ready (or has ended, or its worker is lost), then start the
        ready ones together and call ``on_start``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT

        def waiting() -> list[WorkerSource]:
            return [s for s, t in zip(self._sources, waits, strict=True)
                    if not (s.ready or s.lost or t.done())]

        while late := waiting():
            self._news.clear()
            if loop.time() >= deadline:
                raise RuntimeError(
                    f"{len(late)} of {len(self._sources)} Dask workers did not start their share "
                    f"within {READY_TIMEOUT:g} s (worker {late[0].index} at {late[0].address})")
            try:
                await asyncio.wait_for(self._news.wait(), deadline - loop.time())
            except asyncio.TimeoutError:
                continue
        ready = [s for s, t in zip(self._sources, waits, strict=True)
                 if s.ready and not s.lost and not t.done()]
        if not ready:
            return
        sent = self._clock()
        try:
            await asyncio.wait_for(self.client.run(
                start_run, self.run_id, workers=[s.address for s in ready], on_error="return"),
                CALL_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - one line, the run fails
            raise RuntimeError(f"could not start the workers: {type(exc).__name__}: "
                               f"{exc}") from None
        for source in ready:
            source.start()
        self._t0 = (sent + self._clock()) / 2  # when the workers started, as seen from here
        await asyncio.sleep(max(0.0, self._t0 + self.lag - self._clock()))
        on_start()

    def stop(self) -> None:
        """Stop every worker's share now (each cancels its requests in flight)."""
        if self._stopped:
            return
        self._stopped = True
        self._call(stop_run, self.run_id)

    def set_target(self, value: float) -> None:
        """Split a live change of users (exactly) or rate (evenly) over the live workers."""
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"the target load must be a number >= 0, got {value!r}")
        alive = [s for s in self._sources if s.alive]
        if not alive:
            return
        parts = split_target(value, len(alive), users=self.spec.rate is None)
        targets = {s.index: part for s, part in zip(alive, parts, strict=True)}
        self._call(set_target, self.run_id, targets)

    async def aclose(self) -> None:
        """Stop what still runs, then close the client and (only if it started it) the cluster."""
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        try:
            if client is not None and any(not f.done() for f in self._futures):
                await _quietly(client.run(stop_run, self.run_id, on_error="return"))
                await asyncio.wait_for(client.cancel(self._futures, force=True), CALL_TIMEOUT)
            if self._background:
                await asyncio.wait(self._background, timeout=CALL_TIMEOUT)
            if client is not None and self._modules and cluster is None:  # someone else's
                await _quietly(client.run(forget_modules, self.run_id, on_error="return"))
        finally:
            if client is not None:
                await disconnect(Connection(client, cluster, self.address))

    # -- internals -----------------------------------------------------------------------------
    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        if not isinstance(msg, dict) or msg.get("run") != self.run_id:
            return
        index = msg.get("index")
        if not isinstance(index, int) or not 0 <= index < len(self._sources):
            return
        if msg.get("ready"):
            self._sources[index].ready = True
            self._news.set()
            return
        part = msg.get("part")
        if part is not None and isinstance(self._cluster_source, GroupedSource):
            if "group" not in msg and msg.get("seq", 0) <= self._sources[index].last_seq:
                return  # published again after its leader's loss, but that one had come
            for worker, seq, _ in part["rows"]:
                if seq and 0 <= worker < len(self._sources):
                    self._sources[worker].arrived(seq)
            self._cluster_source.receive(part)
        elif "payload" in msg:
            self._sources[index].receive(msg["payload"])
        self._relay(msg.get("warnings") or [])

    def _relay(self, warnings: list[str]) -> None:
        for text in warnings:
            if text not in self._warned:
                self._warned.add(text)
                self._warn(f"on a worker: {text}")

    async def _await_share(self, source: WorkerSource, future: Any) -> None:
        try:
            result = await future
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_worker_loss(exc):  # a lost worker is a warning, not a failure
                self._lose(source, loss_reason(exc))
                return
            self.stop()  # the run fails: the other shares need not go on
            raise RuntimeError(one_line(f"worker {source.index} ({source.address}) failed: "
                                        f"{type(exc).__name__}: {exc}", 600)) from exc
        self._relay(result.get("warnings") or [])
        grace = ARRIVAL_GRACE + (end_wait(self.spec) if self.groups else 0.0)  # its leader's
        await source.wait_for(int(result["sent"]), grace)
        if source.received < int(result["sent"]):
            self._warn(f"worker {source.index} ({source.address}): "
                       f"{int(result['sent']) - source.received} of its intervals never arrived")
        source.finish(result["payload"])
        self._lasted = max(float(result["elapsed"]), _or_zero(self._lasted))

    async def _watch(self, waits: list[asyncio.Task[None]]) -> None:
        """Notice workers that leave the cluster while their share runs (on clusters that would
        otherwise keep their task waiting for them)."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            try:
                info = await asyncio.wait_for(self.client.scheduler.identity(), CALL_TIMEOUT)
            except Exception:  # noqa: BLE001, S112 - the scheduler is busy: ask again later
                continue
            present = set(info.get("workers", {}))
            for source, task in zip(self._sources, waits, strict=True):
                if source.alive and not task.done() and source.address not in present:
                    task.cancel()
                    self._lose(source, "it left the cluster")

    def _lose(self, source: WorkerSource, why: str) -> None:
        if source.lost:
            return
        source.lose()
        alive = sum(s.alive for s in self._sources)
        at = self._clock() - self._t0 if not math.isnan(self._t0) else 0.0
        self._lost_why = self._lost_why or f"worker {source.index} at {at:.1f}s: {why}"
        self._warn(f"worker {source.index} ({source.address}) was lost at {at:.1f}s ({why}); "
                   f"the run goes on with {alive} of {len(self._sources)} workers; what it sent "
                   f"is kept and its unfinished requests count as cancelled")
        led = next((g for g in self.groups if g.leader == source.index), None)
        if led is not None and len(led.members) > 1:
            self._warn(f"worker {source.index} led worker group {led.number} (workers "
                       f"{led.members[1]}-{led.members[-1]}): they now publish to the driver "
                       f"directly, and publish again what it had not passed on (any "
                       f"still missing at the end is said)")
            have = {m: self._sources[m].last_seq for m in led.members}
            self._call(fail_over, self.run_id, led.number, have)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        """``client.run(fn, *args)`` on the live workers, in the background."""
        client = self.client
        if client is None:
            return
        workers = [s.address for s in self._sources if s.alive]

        async def call() -> None:
            try:
                await asyncio.wait_for(
                    client.run(fn, *args, workers=workers, on_error="return"), CALL_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                self._warn(f"could not reach the workers ({fn.__name__}): {exc!r}")

        self._spawn(call())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _or_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


async def _quietly(call: Coroutine[Any, Any, Any]) -> None:
    """Await ``call`` (bounded), whatever becomes of it: best effort, when closing."""
    try:
        await asyncio.wait_for(call, CALL_TIMEOUT)
    except Exception:  # noqa: BLE001, S110 - closing goes on
        pass


__all__ = ["DaskBackend"]
