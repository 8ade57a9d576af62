"""What the loopback suites share: one nginx with HTTP/2 listeners per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.h2nginx import H2Nginx


@pytest.fixture(scope="module")
def ng() -> Iterator[H2Nginx]:
    try:
        server = H2Nginx()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    with server:
        yield server
