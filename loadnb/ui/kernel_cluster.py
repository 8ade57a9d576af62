"""The widget's Dask cluster kept per kernel: a ``LoadTest(workers=N)`` runs on one
:class:`~loadnb.distributed.cluster.Cluster` of N workers that every Start of every widget in
the kernel reuses, and that ends with the kernel (closed at interpreter exit).

Only the widget's seam changes: :func:`kernel_spec` turns ``workers=N`` (no ``cluster``) into
``cluster=`` the kernel's cluster of N, and :class:`KernelRun` starts that cluster, in a thread,
when a run needs it and it is not up yet (the first Start: its start-up counts in that run's
``startup_s``; a later Start starts its load within about one interval); *Find capacity* runs
its steps on it too (:func:`kernel_kwargs`). ``loadnb.run``, ``arun``, ``capacity`` and the CLI
keep a cluster per run.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
from typing import Any

from ..distributed.cluster import Cluster, resolve_workers
from ..engine.backend import Backend
from ..runner.run import Run
from ..spec.config import LoadSpec

#: The kernel's clusters by number of workers (made by the first Start that needs one).
_KEPT: dict[int, Cluster] = {}
#: Starts under way, so that two Starts at once start one cluster.
_STARTING: dict[int, asyncio.Task[Cluster]] = {}
_AT_EXIT: list[bool] = []


def kernel_cluster(workers: int | str) -> Cluster:
    """The kernel's cluster of ``workers`` processes (made, not started, on first use; a closed
    one is replaced)."""
    n = resolve_workers(workers)
    kept = _KEPT.get(n)
    if kept is None or kept.closed:
        kept = _KEPT[n] = Cluster(n)
        if not _AT_EXIT:
            atexit.register(close_kernel_clusters)
            _AT_EXIT.append(True)
    return kept


def kernel_spec(spec: LoadSpec) -> LoadSpec:
    """``spec`` to run from the widget: ``workers=N`` without a ``cluster`` runs on the kernel's
    cluster of N; any other spec as it is."""
    if spec.workers is None or spec.cluster is not None:
        return spec
    return dataclasses.replace(spec, workers=None, cluster=kernel_cluster(spec.workers))


async def kernel_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``make_spec`` keyword arguments with ``workers=N`` (no ``cluster``) turned into
    ``cluster=`` the kernel's cluster of N, started (what *Find capacity* runs its steps on)."""
    workers = kwargs.get("workers")
    if workers is None or kwargs.get("cluster") is not None:
        return kwargs
    return {**kwargs, "workers": None, "cluster": await started(kernel_cluster(workers))}


def is_up(cluster: Cluster) -> bool:
    """Whether ``cluster`` has started and is not closed."""
    try:
        cluster.scheduler_address  # noqa: B018 - raises ValueError when not up
    except ValueError:
        return False
    return True


async def started(cluster: Cluster) -> Cluster:
    """``cluster`` (a kernel cluster), started in a thread if it is not up yet; two callers at
    once wait for one start."""
    if is_up(cluster):
        return cluster
    key = id(cluster)
    task = _STARTING.get(key)
    if task is None or task.get_loop() is not asyncio.get_running_loop():
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(cluster.start))
        _STARTING[key] = task
        task.add_done_callback(lambda done: _STARTING.pop(key, None) if
                               _STARTING.get(key) is done else None)
    return await asyncio.shield(task)


class KernelRun(Run):
    """A :class:`~loadnb.runner.run.Run` whose kernel cluster is started (once) before its load."""

    async def _open_backend(self) -> Backend:
        cluster = self.spec.cluster
        if isinstance(cluster, Cluster) and cluster in _KEPT.values():
            await started(cluster)
        return await super()._open_backend()


def close_kernel_clusters() -> None:
    """Close every kernel cluster (at interpreter exit; tests call it too)."""
    while _KEPT:
        _, cluster = _KEPT.popitem()
        cluster.close()


__all__ = ["KernelRun", "close_kernel_clusters", "is_up", "kernel_cluster", "kernel_kwargs",
           "kernel_spec", "started"]
