"""The driver's connection to a run's Dask cluster: the one it starts for the run (``workers=N``,
closed with it), a kept one (:func:`~loadnb.distributed.cluster.cluster`: loadnb's settings, all
its workers waited for, left running) or yours (an address, a ``distributed.Client`` or any
cluster object: nothing changed there, at least one worker waited for); and the check that every
worker runs this loadnb.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from ..spec.config import LoadSpec
from .cluster import Cluster, address_of, resolve_workers, settings, start_local
from .worker import version

#: Bounds on talking to the cluster (seconds).
CONNECT_TIMEOUT = 10.0
CALL_TIMEOUT = 5.0


@dataclass
class Connection:
    """A run's asynchronous client, and the cluster started for the run alone (else None)."""

    client: Any
    cluster: Any
    address: str


async def connect_cluster(spec: LoadSpec) -> Connection:
    """Start (``spec.workers``) or join (``spec.cluster``) the cluster and connect to it, once its
    workers are there (all of loadnb's own, at least one of anyone else's)."""
    import distributed

    dd: Any = distributed  # untyped: every call below goes through Any
    kept = spec.cluster if isinstance(spec.cluster, Cluster) else None
    cluster: Any = None
    with settings(ours=spec.cluster is None or kept is not None):
        if spec.cluster is None:
            cluster = await start_local(resolve_workers(spec.workers))
            address, security = str(cluster.scheduler_address), None
        else:
            address, security = address_of(spec.cluster)
        try:
            client = await asyncio.wait_for(
                dd.Client(address, security=security, asynchronous=True,
                          timeout=CONNECT_TIMEOUT), CONNECT_TIMEOUT + 1)
        except BaseException as exc:
            if cluster is not None:
                await asyncio.wait_for(cluster.close(), CALL_TIMEOUT * 2)
            if isinstance(exc, OSError | asyncio.TimeoutError):
                raise RuntimeError(f"cannot reach the Dask scheduler at {address}: "
                                   f"{exc or type(exc).__name__}") from None
            raise
    done = Connection(client, cluster, address)
    want = (resolve_workers(spec.workers) if cluster is not None
            else kept.workers if kept is not None else 1)
    try:
        await asyncio.wait_for(client.wait_for_workers(want), CONNECT_TIMEOUT)
    except asyncio.TimeoutError:
        await disconnect(done)
        raise RuntimeError(f"the Dask cluster at {address} has no workers (waited "
                           f"{CONNECT_TIMEOUT:g} s)") from None
    return done


async def disconnect(connection: Connection) -> None:
    """Close the client, then (only if it was started for the run) the cluster."""
    try:
        await asyncio.wait_for(connection.client.close(), CALL_TIMEOUT)
    finally:
        if connection.cluster is not None:
            await asyncio.wait_for(connection.cluster.close(), CALL_TIMEOUT * 2)


async def check_versions(client: Any, address: str) -> list[str]:
    """The workers' addresses, sorted, once each has said it runs this loadnb (``RuntimeError``
    naming one that does not)."""
    versions = await asyncio.wait_for(client.run(version, on_error="return"), CALL_TIMEOUT)
    if not versions:
        raise RuntimeError(f"the Dask cluster at {address} has no workers")
    bad = {addr: v for addr, v in versions.items() if v != __version__}
    if bad:
        addr, found = sorted(bad.items())[0]
        what = (f"loadnb {found}" if isinstance(found, str)
                else f"no usable loadnb ({type(found).__name__}: {found})")
        raise RuntimeError(
            f"{len(bad)} of {len(versions)} Dask workers cannot run this test: {addr} has "
            f"{what}, this process has loadnb {__version__}; install the same loadnb on "
            f"every worker")
    return sorted(versions)


__all__ = ["CALL_TIMEOUT", "CONNECT_TIMEOUT", "Connection", "check_versions", "connect_cluster",
           "disconnect"]
