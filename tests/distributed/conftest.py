"""What the Dask tests of this package share: one kept cluster of 4 single-threaded workers and
one nginx (starting a cluster takes seconds on a busy machine); both closed at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import loadnb
from loadnb.distributed.cluster import Cluster
from tests.nginx import Nginx


@pytest.fixture(scope="package")
def kept() -> Iterator[Cluster]:
    """A ``loadnb.cluster(workers=4)``: a LocalCluster of 4 single-threaded worker processes."""
    with loadnb.cluster(workers=4) as cluster:
        yield cluster
    assert cluster.closed


@pytest.fixture(scope="package")
def nginx() -> Iterator[Nginx]:
    """A private nginx on 127.0.0.1 (tests/nginx.py): count what it logged."""
    with Nginx() as server:
        yield server
