"""Helpers of the widget tests: fast run settings, a made-up snapshot, rows, scenario functions."""

from __future__ import annotations

from typing import Any

from loadnb.engine.vuser import VirtualUser
from loadnb.metrics.snapshot import Snapshot
from loadnb.ui import LoadTest

FAST: dict[str, Any] = {"interval": 0.1, "graceful_stop": 1}


def snap(**kw: Any) -> Snapshot:
    base: dict[str, Any] = dict(
        timestamp=0.0, elapsed_time=1.0, progress_percent=45.2, active_users=15,
        completed_requests=1250, failed_requests=19, success_rate=98.5, current_rps=12.5,
        peak_rps=14.0, estimated_completion=5.0)
    return Snapshot(**{**base, **kw})


def rows(test: LoadTest) -> dict[str, int]:
    return {name: len(src.data["elapsed_time"]) for name, src in test.dashboard.sources.items()}


async def journey(user: VirtualUser) -> None:
    await user.get("/", name="home")
    await user.get("/status/404", name="missing", expect_status=404)


async def other(user: VirtualUser) -> None:
    await user.get("/", name="other")


def not_async(user: VirtualUser) -> None:
    pass
