"""One of each path (issue 21): one run-to-end helper, one tick loop, one engine assembly, and
one writer of a run's record (its monitor); each checked from the code itself, so a second copy
written later fails here, and each shown to work."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path

import pytest

from loadnb import make_spec
from loadnb.engine.assembly import assemble
from loadnb.engine.loop import run_to_end
from loadnb.engine.ticker import Ticker
from loadnb.record.state import RunState
from loadnb.record.update import Update
from loadnb.runner.run import Run
from tests.conftest import until
from tests.doubles import MockTransport

PACKAGE = Path(__file__).resolve().parents[2] / "loadnb"
URL = "http://127.0.0.1:9/"


def sources(*exclude: str) -> dict[str, str]:
    """Every module's text, by path under ``loadnb/``, less ``exclude`` (path prefixes)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if not rel.startswith(exclude):
            out[rel] = path.read_text()
    return out


def where(pattern: str, *exclude: str) -> list[str]:
    return [rel for rel, text in sources(*exclude).items() if re.search(pattern, text)]


def test_one_run_to_end_helper() -> None:
    # the demo server is standalone (it imports nothing of loadnb) and runs its own loop
    assert where(r"asyncio\.Runner\(|run_until_complete\(|asyncio\.run\(|uvloop\.run\(",
                 "demo/") == ["engine/loop.py"]


def test_one_tick_loop() -> None:
    assert where(r"await asyncio\.sleep\(max\(0\.0, wake") == ["engine/ticker.py"]


def test_one_engine_assembly() -> None:
    built = [rel for rel, text in sources().items()
             if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                    and n.func.id in ("Engine", "Recorder") for n in ast.walk(ast.parse(text)))]
    assert built == ["engine/assembly.py"]


def test_the_monitor_alone_writes_the_record() -> None:
    """Outside the record itself, its rebuild from storage and the run's monitor, nothing
    assigns to a record's fields or appends to its lists."""
    writes = re.compile(r"record\.\w+(\[[^]]*\])? = |record\.(alerts|thresholds|warnings|events|"
                        r"snapshots|custom_timeline|names_timeline)\.(append|extend|clear)\(|"
                        r"record\.(warn|add)\(")
    found = [rel for rel, text in sources("record/", "runner/monitor.py").items()
             if writes.search(text)]
    allowed = {"history/reader.py", "results/export.py", "runner/run.py"}  # rebuilds; started_at
    assert set(found) <= allowed, found
    run_py = (PACKAGE / "runner/run.py").read_text()
    assert [m.group(0) for m in writes.finditer(run_py)] == ["record.started_at = "]


def test_run_to_end_outside_a_loop_uses_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def kind() -> type[asyncio.AbstractEventLoop]:
        return type(asyncio.get_running_loop())

    assert run_to_end(kind()) is uvloop.Loop


async def test_run_to_end_inside_a_running_loop_blocks_it_to_the_end() -> None:
    async def later() -> str:
        await asyncio.sleep(0.01)
        return "ended"

    assert run_to_end(later()) == "ended"  # nest-asyncio2: the notebook's blocking path


async def test_the_ticker_calls_back_every_interval_with_the_lag() -> None:
    lags: list[float] = []
    ticker = Ticker(0.02, lags.append)
    task = asyncio.get_running_loop().create_task(ticker.run())
    try:
        await until(lambda: len(lags) >= 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(lags) >= 3 and all(lag >= 0.0 for lag in lags)


async def test_the_assembly_closes_its_transport_when_the_engine_cannot_be_built(
        monkeypatch: pytest.MonkeyPatch) -> None:
    transport = MockTransport()
    spec = make_spec(URL, users=2, duration=1)
    parts = await assemble(spec, warn=print, transport=lambda options: transport)
    assert parts.source.engine is parts.engine and parts.source.recorder is parts.recorder
    await parts.aclose()
    assert transport.closed

    def refuse(*args: object) -> None:
        raise ValueError("no engine")

    monkeypatch.setattr("loadnb.engine.assembly.Engine", refuse)
    broken = MockTransport()
    with pytest.raises(ValueError, match="no engine"):
        await assemble(spec, warn=print, transport=lambda options: broken)
    assert broken.closed


async def test_faces_get_everything_in_the_update_and_the_state_is_one_vocabulary() -> None:
    transport = MockTransport()
    spec = make_spec(URL, users=2, requests=6, interval=0.05, thresholds=["requests>=6"],
                     history="off")
    run = Run(spec, transport=lambda options: transport)
    updates: list[Update] = []
    run.watch(updates.append)
    states: list[RunState] = []
    run.on_state(lambda r: states.append(r.state))
    assert run.state == RunState.IDLE == "idle"
    await run.run()
    assert states == [RunState.RUNNING, RunState.DONE]
    last = updates[-1]
    assert last.state == RunState.DONE and last.snapshot is run.record.snapshots[-1]
    assert last.thresholds == tuple(run.record.thresholds)
    assert [t["passed"] for t in last.thresholds] == [True]
    assert run.result.summary["state"] == "done"
