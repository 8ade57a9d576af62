"""A kept cluster that fails half-way through its start keeps nothing of it (stand-ins for
Dask's LocalCluster and Client: no process is started)."""

from __future__ import annotations

from typing import Any

import pytest

from loadnb.distributed.cluster import Cluster


class FakeLocal:
    closed: list[FakeLocal] = []

    def __init__(self, **kwargs: Any) -> None:
        self.scheduler_address = "tcp://127.0.0.1:1"

    def close(self, timeout: float) -> None:
        FakeLocal.closed.append(self)


class FailingClient:
    def __init__(self, cluster: Any) -> None:
        pass

    def __enter__(self) -> FailingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def wait_for_workers(self, n: int, timeout: float) -> None:
        raise TimeoutError(f"only 0 of {n} workers within {timeout} s")


def test_a_cluster_whose_workers_never_come_is_not_kept_half_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import distributed

    monkeypatch.setattr(distributed, "LocalCluster", FakeLocal)
    monkeypatch.setattr(distributed, "Client", FailingClient)
    FakeLocal.closed.clear()
    cluster = Cluster(2)
    with pytest.raises(TimeoutError):
        cluster.start()
    assert len(FakeLocal.closed) == 1  # what was started is closed again
    with pytest.raises(ValueError, match="not started"):
        cluster.scheduler_address  # noqa: B018 - not up: a later Start starts it anew
