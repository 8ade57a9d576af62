"""The driver side of scale-out: :class:`DaskBackend` and one :class:`WorkerSource` per worker.

The backend starts (``workers=N``: a ``LocalCluster`` of N single-threaded worker processes on
127.0.0.1) or joins (``cluster=``: an existing scheduler; nothing is started or closed there) a
Dask cluster, checks every worker runs the same loadnb version, and submits one long task per
worker (:func:`~loadnb.distributed.worker.run_share`, pinned to that worker). Workers publish
their intervals with ``log_event``; the driver's subscription hands each to its worker's source,
which buffers them until the monitor's next tick: intervals are merged on the driver's
boundaries, whatever the workers' clocks. Stops and live changes go out with ``client.run``.

A worker that dies mid-run is a warning, not a failure: the rest go on, everything it sent is
kept, and its requests started and never ended are counted as cancelled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from .._version import __version__
from ..config import LoadSpec
from ..source import Source
from .source import WorkerSource
from .split import split_target
from .worker import run_share, set_target, stop_run, version

#: Longest wait for a worker's last intervals once its task has returned (seconds).
ARRIVAL_GRACE = 2.0
#: How often the backend checks its workers are still in the cluster (seconds).
WATCH_EVERY = 1.0
#: Bounds on talking to the cluster (seconds).
CONNECT_TIMEOUT = 10.0
CALL_TIMEOUT = 5.0
#: Dask settings of the clusters loadnb starts: a killed worker fails its share at once (no retry
#: elsewhere); no statistical profiler, whose samples every 10 ms take the GIL from the load.
LOCAL_CONFIG: dict[str, Any] = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.worker.profile.enabled": False,
}


def resolve_workers(workers: int | str | None) -> int:
    """``workers=`` as a number of processes (``"auto"``: the machine's cores)."""
    if workers == "auto":
        return max(1, os.cpu_count() or 1)
    return int(workers) if workers is not None else 1


def _transport_name(spec: LoadSpec) -> str:
    """The transport the workers will use (as ``make_transport`` picks it)."""
    options = spec.transport_options()
    if options.kind != "aiohttp" and options.plain:
        from ..transport.fast import fast_supported

        reason = fast_supported(options)
        if reason is None:
            return "fast"
        if options.kind == "fast":
            raise ValueError(f"transport='fast' cannot run this test: {reason}")
    return "aiohttp"


class DaskBackend:
    """The load from Dask worker processes (:class:`~loadnb.backend.Backend`).

    Example::

        backend = DaskBackend(spec, run_id="abc", warn=print)
        await backend.open()        # start or join the cluster, check the workers
        monitor = Monitor(backend.sources, record, sinks, interval=spec.interval)
        await backend.run(); await backend.aclose()
    """

    def __init__(self, spec: LoadSpec, *, run_id: str, warn: Callable[[str], None],
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.spec, self.run_id, self._warn, self._clock = spec, run_id, warn, clock
        self.name = _transport_name(spec)
        self.client: Any = None
        self.cluster: Any = None
        self.address = ""
        self.worker_addresses: list[str] = []
        self._sources: list[WorkerSource] = []
        self._stopped = False
        self._running = False
        self._futures: list[Any] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._warned: set[str] = set()
        self._t0 = math.nan

    # -- opening -------------------------------------------------------------------------------
    async def open(self) -> None:
        """Start (``workers``) or join (``cluster``) the cluster and check its workers."""
        try:
            await self._connect()
            await self._check_workers()
        except BaseException:
            await self.aclose()
            raise

    async def _connect(self) -> None:
        import dask
        import distributed

        dd: Any = distributed  # untyped: every call below goes through Any
        spec = self.spec
        if spec.cluster is None:
            n = resolve_workers(spec.workers)
            with dask.config.set(LOCAL_CONFIG):
                self.cluster = await dd.LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, asynchronous=True, silence_logs=logging.ERROR,
                    # its HTTP server (health, metrics) on any free port, not 8787
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            self.address = str(self.cluster.scheduler_address)
        else:
            self.address = _address_of(spec.cluster)
        try:
            self.client = await asyncio.wait_for(
                dd.Client(self.address, asynchronous=True, timeout=CONNECT_TIMEOUT),
                CONNECT_TIMEOUT + 1)
        except (OSError, asyncio.TimeoutError) as exc:
            raise RuntimeError(f"cannot reach the Dask scheduler at {self.address}: "
                               f"{exc or type(exc).__name__}") from None
        # all of ours; on a cluster of someone else's, at least one
        want = resolve_workers(spec.workers) if spec.cluster is None else 1
        try:
            await asyncio.wait_for(self.client.wait_for_workers(want), CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            raise RuntimeError(f"the Dask cluster at {self.address} has no workers (waited "
                               f"{CONNECT_TIMEOUT:g} s)") from None

    async def _check_workers(self) -> None:
        versions = await asyncio.wait_for(self.client.run(version, on_error="return"),
                                          CALL_TIMEOUT)
        if not versions:
            raise RuntimeError(f"the Dask cluster at {self.address} has no workers")
        bad = {addr: v for addr, v in versions.items() if v != __version__}
        if bad:
            addr, found = sorted(bad.items())[0]
            what = (f"loadnb {found}" if isinstance(found, str)
                    else f"no usable loadnb ({type(found).__name__}: {found})")
            raise RuntimeError(
                f"{len(bad)} of {len(versions)} Dask workers cannot run this test: {addr} has "
                f"{what}, this process has loadnb {__version__}; install the same loadnb on "
                f"every worker")
        self.worker_addresses = sorted(versions)
        self._sources = [WorkerSource(i, addr) for i, addr in enumerate(self.worker_addresses)]

    # -- the Backend protocol ------------------------------------------------------------------
    @property
    def sources(self) -> Sequence[Source]:
        return self._sources

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def running(self) -> bool:
        """Whether any worker's share may still be running (False once :meth:`run` has seen
        every share end or its worker lost)."""
        return self._running

    async def run(self) -> None:
        """Run one share per worker; return when every share has ended and its intervals have
        arrived (or its worker is lost)."""
        assert self.client is not None, "open() the backend first"
        if self._stopped:
            return
        client: Any = self.client
        topic = f"loadnb-{self.run_id}"
        client.subscribe_topic(topic, self._on_event)
        shared = dataclasses.replace(
            self.spec, workers=None, cluster=None, alerts=(), thresholds=(), notify=(),
            history="off", abort_on_fail=False)
        n = len(self._sources)
        self._t0 = self._clock()
        self._running = True
        self._futures = [
            client.submit(run_share, shared, self.run_id, s.index, n, topic,
                          key=f"loadnb-{self.run_id}-{s.index}", workers=[s.address],
                          allow_other_workers=False, pure=False)
            for s in self._sources]
        waits = [asyncio.get_running_loop().create_task(self._await_share(s, f))
                 for s, f in zip(self._sources, self._futures, strict=True)]
        watcher = asyncio.get_running_loop().create_task(self._watch(waits))
        try:
            outcomes = await asyncio.gather(*waits, return_exceptions=True)
        finally:
            watcher.cancel()
            for task in waits:
                task.cancel()
            await asyncio.gather(watcher, *waits, return_exceptions=True)
            self._running = False
            client.unsubscribe_topic(topic)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome

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
                try:
                    await asyncio.wait_for(client.run(stop_run, self.run_id, on_error="return"),
                                           CALL_TIMEOUT)
                except Exception:  # noqa: BLE001, S110 - best effort: closing comes next
                    pass
                await asyncio.wait_for(client.cancel(self._futures, force=True), CALL_TIMEOUT)
            if self._background:
                await asyncio.wait(self._background, timeout=CALL_TIMEOUT)
        finally:
            try:
                if client is not None:
                    await asyncio.wait_for(client.close(), CALL_TIMEOUT)
            finally:
                if cluster is not None:
                    await asyncio.wait_for(cluster.close(), CALL_TIMEOUT * 2)

    # -- internals -----------------------------------------------------------------------------
    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        if not isinstance(msg, dict) or msg.get("run") != self.run_id:
            return
        index = msg.get("index")
        if isinstance(index, int) and 0 <= index < len(self._sources):
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
            if _is_worker_loss(exc):  # a lost worker is a warning, not a failure
                self._lose(source, f"{type(exc).__name__}: {exc}")
                return
            raise
        self._relay(result.get("warnings") or [])
        await source.wait_for(int(result["sent"]), ARRIVAL_GRACE)
        if source.received < int(result["sent"]):
            self._warn(f"worker {source.index} ({source.address}): "
                       f"{int(result['sent']) - source.received} of its intervals never arrived")
        source.finish(result["payload"])

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
        at = self._clock() - self._t0
        self._warn(f"worker {source.index} ({source.address}) was lost at {at:.1f}s ({why}); "
                   f"the run goes on with {alive} of {len(self._sources)} workers; what it sent "
                   f"is kept and its unfinished requests count as cancelled")

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


def _address_of(cluster: object) -> str:
    """The scheduler address of ``cluster=`` (an address, or a ``distributed.Client``)."""
    if isinstance(cluster, str):
        return cluster
    scheduler = getattr(cluster, "scheduler", None)
    address = getattr(scheduler, "address", None)
    if not isinstance(address, str):
        raise ValueError(f"cluster: cannot find the scheduler address of {cluster!r}")
    return address


def _is_worker_loss(exc: BaseException) -> bool:
    """Whether a share's task failed because its worker went away (not because of loadnb)."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    return isinstance(exc, KilledWorker | FutureCancelledError | OSError)


__all__ = ["DaskBackend", "WorkerSource", "resolve_workers"]
