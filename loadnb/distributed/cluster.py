"""The Dask cluster behind a run: the one loadnb starts (``workers=N``) or the one it joins
(``cluster=``), the settings loadnb's own clusters get, the transport its workers use, and what
a lost worker looks like.

Dask keeps, for its own debugging, the last ``distributed.admin.low-level-log-length`` (1000 by
default) messages of every batched stream, events of every topic and transitions, in the
scheduler and in every worker. A run sends each interval as an event, a few KB, through a
worker's stream, the scheduler's topic and the scheduler's stream to the driver: with the
default, every process would keep growing for many minutes (2.5 MB a minute in a driver, which
holds a ``LocalCluster``'s scheduler). loadnb's own clusters keep :data:`LOG_LENGTH` of each.
On a cluster of yours nothing is changed: each run uses the one topic :data:`TOPIC`, so the
scheduler's event log stays within that bound however many runs come and go.
"""

from __future__ import annotations

import contextlib
import logging
import os
from contextlib import AbstractContextManager
from typing import Any

from ..spec.config import LoadSpec

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


def address_of(cluster: object) -> str:
    """The scheduler address of ``cluster=`` (an address, or a ``distributed.Client``)."""
    if isinstance(cluster, str):
        return cluster
    scheduler = getattr(cluster, "scheduler", None)
    address = getattr(scheduler, "address", None)
    if not isinstance(address, str):
        raise ValueError(f"cluster: cannot find the scheduler address of {cluster!r}")
    return address


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


__all__ = ["LOCAL_CONFIG", "LOG_LENGTH", "TOPIC", "address_of", "is_worker_loss", "loss_reason",
           "one_line", "resolve_workers", "settings", "start_local", "transport_name"]
