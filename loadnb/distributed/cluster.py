"""The Dask cluster behind a run: the one loadnb starts (``workers=N``) or the one it joins
(``cluster=``), the settings loadnb's own clusters get, the transport its workers use, and what
a lost worker looks like.

Dask keeps, for its own debugging, the last ``distributed.admin.low-level-log-length`` (1000 by
default) messages of every batched stream, events of every topic and transitions, in the
scheduler and in every worker. A run sends each interval as an event, a few KB, through a
worker's stream, the scheduler's topic and the scheduler's stream to the driver: with the
default, every process would keep growing for many minutes (2.5 MB a minute in a driver, which
holds a ``LocalCluster``'s scheduler). loadnb's own clusters keep :data:`LOG_LENGTH` of each.
On a cluster of yours nothing is changed: each run uses the one topic :data:`TOPIC` (and,
fanned in, one per group, :data:`~loadnb.distributed.fanin.GROUP_TOPIC`, numbered the same in
every run), so the scheduler's event log stays within that bound however many runs come and go.

:func:`cluster` (``loadnb.cluster``) starts a ``LocalCluster`` with those settings that stays
across runs (``with loadnb.cluster(workers=4) as c: loadnb.run(url, cluster=c)``): each run on it
connects, runs its shares and leaves it as it found it; the with-block closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from contextlib import AbstractContextManager
from typing import Any

from ..spec.config import LoadSpec
from ..spec.options import check_workers

#: The event topic every run publishes its intervals on (messages carry the run id).
TOPIC = "loadnb-intervals"
#: How many of its debugging messages and events Dask keeps per stream or topic, in loadnb's own
#: clusters.
LOG_LENGTH = 16
#: Dask settings of the clusters loadnb starts: a killed worker fails its share at once (no retry
#: elsewhere); no statistical profiler, whose samples every 10 ms take the GIL from the load;
#: short debugging logs (see above); a minute of system-monitor samples (no dashboard reads
#: them).
LOCAL_CONFIG: dict[str, Any] = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.low-level-log-length": LOG_LENGTH,
    "distributed.admin.system-monitor.log-length": 120,
}


def resolve_workers(workers: int | str | None) -> int:
    """``workers=`` as a number of processes (``"auto"``: the machine's cores)."""
    if workers == "auto":
        return max(1, os.cpu_count() or 1)
    return int(workers) if workers is not None else 1


def settings(ours: bool) -> AbstractContextManager[Any]:
    """The Dask settings to start (and connect to) a cluster with: :data:`LOCAL_CONFIG` for one
    loadnb starts (``ours``; its scheduler's stream to the client is made when the client
    connects), none for someone else's."""
    if not ours:
        return contextlib.nullcontext()
    import dask

    cm: AbstractContextManager[Any] = dask.config.set(LOCAL_CONFIG)
    return cm


async def start_local(n: int) -> Any:
    """A ``LocalCluster`` of ``n`` single-threaded worker processes on 127.0.0.1 (started; call
    it within :func:`settings`)."""
    import distributed

    dd: Any = distributed  # untyped
    return await dd.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, asynchronous=True, silence_logs=logging.CRITICAL,
        # its HTTP server (health, metrics) on any free port, not 8787
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


def transport_name(spec: LoadSpec) -> str:
    """The transport the workers will use (as ``make_transport`` picks it)."""
    options = spec.transport_options()
    if options.kind != "aiohttp" and options.plain:
        from ..transport.wire import fast_supported

        reason = fast_supported(options)
        if reason is None:
            return "fast"
        if options.kind == "fast":
            raise ValueError(f"transport='fast' cannot run this test: {reason}")
    return "aiohttp"


def address_of(cluster: object) -> tuple[str, Any]:
    """The scheduler address of ``cluster=`` (an address, a ``distributed.Client``, or a cluster
    object: ``LocalCluster``, ``KubeCluster``, ``GatewayCluster``, a dask-jobqueue or Coiled
    cluster, :func:`cluster`) and the ``distributed.Security`` to connect with (None: plain)."""
    if isinstance(cluster, str):
        return cluster, None
    address = getattr(cluster, "scheduler_address", None)  # a cluster object
    if not isinstance(address, str):
        address = getattr(getattr(cluster, "scheduler", None), "address", None)  # a Client
    if not isinstance(address, str):
        raise ValueError(f"cluster: cannot find the scheduler address of {cluster!r}")
    return address, getattr(cluster, "security", None)


class Cluster:
    """A ``LocalCluster`` of single-threaded worker processes on 127.0.0.1 that stays across runs
    (made by :func:`cluster`): pass it as ``cluster=`` to ``run``, ``arun``, ``LoadTest`` or
    ``capacity``. A run connects to it and leaves it running; ``close()`` or the end of the
    with-block (``with`` or ``async with``) closes it.
    """

    def __init__(self, workers: int | str = "auto") -> None:
        self.workers = resolve_workers(workers)
        self._local: Any = None
        self._closed = False

    def start(self) -> Cluster:
        """Start the cluster (blocking: a second or two) and warm its workers' imports up."""
        if self._closed:
            raise RuntimeError("this loadnb cluster is closed")
        if self._local is not None:
            return self
        import distributed

        dd: Any = distributed  # untyped
        with settings(ours=True):
            local = dd.LocalCluster(
                n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.CRITICAL,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            try:
                with dd.Client(local) as client:
                    client.wait_for_workers(self.workers, timeout=60)
                    client.run(warm_up)
            except BaseException:  # half started is not started: nothing of it is kept
                local.close(timeout=30)
                raise
        self._local = local
        return self

    @property
    def scheduler_address(self) -> str:
        """The scheduler's address (``ValueError`` once closed or before it started)."""
        if self._local is None:
            state = "closed" if self._closed else "not started (use it in a with-block)"
            raise ValueError(f"cluster: this loadnb cluster is {state}")
        return str(self._local.scheduler_address)

    @property
    def closed(self) -> bool:
        """Whether it was closed."""
        return self._closed

    def close(self) -> None:
        """Close the cluster: its workers and scheduler end (a run on it fails)."""
        local, self._local, self._closed = self._local, None, True
        if local is not None:
            local.close(timeout=30)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Cluster:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        where = "closed" if self._closed else (
            self.scheduler_address if self._local is not None else "not started")
        return f"<loadnb cluster: {self.workers} workers, {where}>"


def cluster(workers: int | str = "auto") -> Cluster:
    """A Dask ``LocalCluster`` of ``workers`` single-threaded processes (``"auto"``: one per core)
    kept across runs: ``with loadnb.cluster(workers=4) as c: loadnb.run(url, cluster=c)``. Its
    runs start their load in a fraction of a second (no cluster to start, the workers' imports
    done)."""
    return Cluster(check_workers(workers) or 1)


def warm_up() -> str:
    """Import, on a worker, what its first share will need (so that the first run starts fast)."""
    from ..engine import assembly  # noqa: F401
    from ..transport import make_transport  # noqa: F401
    from . import worker

    return worker.version()


def is_worker_loss(exc: BaseException) -> bool:
    """Whether a share's task failed because its worker went away (not because of loadnb)."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    return isinstance(exc, KilledWorker | FutureCancelledError | OSError)


def loss_reason(exc: BaseException) -> str:
    """Why a worker was lost, in a few words."""
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        return "its process died"
    return one_line(f"{type(exc).__name__}: {exc}")


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


__all__ = ["LOCAL_CONFIG", "LOG_LENGTH", "TOPIC", "Cluster", "address_of", "cluster",
           "is_worker_loss", "loss_reason", "one_line", "resolve_workers", "settings",
           "start_local", "transport_name", "warm_up"]
