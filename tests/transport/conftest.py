"""Fixtures shared by the transport tests (the fault tests use them by name)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def _no_stray_threads() -> Iterator[None]:
    """Every FaultServer thread has ended by the end of its test."""
    yield
    assert not [t for t in threading.enumerate() if t.name == "fault-server"]
