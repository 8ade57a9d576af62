"""The fault tests' run and checks: load a FaultServer, then timing, accounting, errors, leaks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from loadnb import Run, make_spec
from loadnb.results.result import Result
from tests.faults import FaultServer

#: Slack on the end of a run (the monitor's final tick, closing the pool, a busy machine's
#: scheduling): generous, it only catches a hang or a wait for a timeout longer than the grace.
MARGIN = 2.0
#: File descriptors a run may leave behind (none expected; room for a lazily made selector).
FD_SLACK = 2
NAME = "GET /"


# -- helpers -----------------------------------------------------------------------------------
def _fds() -> dict[int, str]:
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            out[int(fd)] = os.readlink(f"/proc/self/fd/{fd}")
    return out


@contextlib.asynccontextmanager
async def no_leaks() -> AsyncIterator[None]:
    """Around a server and a run: afterwards only the test's task runs, and no fd is left open."""
    before = _fds()
    me = asyncio.current_task()
    yield
    for _ in range(3):  # transports close their sockets on the next loop iterations
        await asyncio.sleep(0)
    others = [t for t in asyncio.all_tasks() if t is not me]
    assert not others, f"tasks left running: {others}"
    after = _fds()
    new = {fd: target for fd, target in after.items() if before.get(fd) != target}
    assert len(after) <= len(before) + FD_SLACK, f"file descriptors left open: {new}"


@dataclass
class Outcome:
    run: Run
    result: Result
    wall: float  # seconds from start() to the result
    t0: float  # perf_counter at start (≈ the engine's t0)
    received: int  # the server's count once it stopped moving

    @property
    def s(self) -> dict[str, Any]:
        return self.result.summary


async def load(url: str, server: FaultServer | None, **params: Any) -> Outcome:
    """One run of loadnb against ``url``, timed; then the server's settled request count."""
    params.setdefault("interval", 0.25)
    run = Run(make_spec(url, **params))
    t0 = time.perf_counter()
    result = await run.run()
    wall = time.perf_counter() - t0
    received = 0 if server is None else await server.settle()
    assert result.transport == params.get("transport", result.transport)  # the one asked for
    return Outcome(run, result, wall, t0, received)


def check_on_time(out: Outcome) -> None:
    """Ends at the duration plus at most the grace (min(timeout, graceful_stop)), state done."""
    spec = out.run.spec
    assert spec.duration is not None
    grace = min(spec.timeout, spec.graceful_stop)
    assert spec.duration - 0.05 <= out.wall <= spec.duration + grace + MARGIN, out.wall
    assert out.wall <= spec.duration + spec.timeout + MARGIN
    assert out.result.state == "done" and out.run.state == "done"
    assert out.result.error is None


def check_accounting(out: Outcome) -> None:
    """started = completed + failed + cancelled, per name and overall; intervals add up."""
    result = out.result
    o = result.overall
    total = o.completed + o.failed + o.cancelled
    assert out.s["total_requests"] == total
    assert sum(t.started for t in result.totals.values()) == total
    for t in result.totals.values():
        assert t.started == t.completed + t.failed + t.cancelled
        assert sum(t.errors.values()) == t.failed  # every failure has exactly one kind
    df = result.df
    assert df["interval_requests"].sum() == total
    assert df["interval_completed"].sum() == o.completed
    assert df["interval_failed"].sum() == o.failed
    last = result.snapshots[-1]
    assert (last.completed_requests, last.failed_requests, last.cancelled_requests) == (
        o.completed, o.failed, o.cancelled)
    assert last.phase == "done"


def check_errors(out: Outcome, expected: dict[str, int]) -> None:
    """The failures, by kind, in the summary, the errors frame and the errors timeline."""
    result = out.result
    expected = {k: n for k, n in expected.items() if n}
    assert out.s["errors"] == expected
    errors = result.errors
    assert list(errors.columns) == ["name", "kind", "count", "sample"]
    assert set(errors.name) <= {NAME}
    assert dict(zip(errors.kind, errors["count"], strict=True)) == expected
    for kind, sample in zip(errors.kind, errors["sample"], strict=True):
        assert isinstance(sample, str) and len(sample) <= 300
        if not kind.startswith("HTTP "):  # a status has no message; every other kind has one
            assert sample, kind
    tl = result.errors_timeline
    assert list(tl.columns) == ["elapsed_time", "kind", "count"]
    assert tl.groupby("kind")["count"].sum().to_dict() == expected
    assert (tl["count"] > 0).all()
    assert tl["elapsed_time"].is_monotonic_increasing
    assert tl["elapsed_time"].between(0, out.wall + 0.1).all()


def check_all(out: Outcome, expected_errors: dict[str, int]) -> None:
    check_on_time(out)
    check_accounting(out)
    check_errors(out, expected_errors)


def exact(out: Outcome) -> None:
    """Each request the server parsed is counted exactly once, and nothing else is counted."""
    assert out.received == out.s["total_requests"], (out.received, out.s)


# -- transports ----------------------------------------------------------------------------------
#: Every fault runs on both transports (the fast one is what "auto" picks for target-URL tests).
TRANSPORTS = ("aiohttp", "fast")
both = pytest.mark.parametrize("transport", TRANSPORTS)
