"""The public surface: exported names, no import-time side effects, the blocking and async entry
points (in fresh interpreters, so each has the event-loop situation it is meant for)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import loadnb
from loadnb import Run, make_spec
from tests.conftest import until
from tests.servers import Action, RawHTTPServer

ROOT = Path(__file__).resolve().parents[2]


def python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_all_is_exactly_the_public_names() -> None:
    public = {n for n in dir(loadnb) if not n.startswith("_") and n != "annotations"
              and not inspect.ismodule(getattr(loadnb, n))}
    assert set(loadnb.__all__) == public | {"LoadTest", "demo", "__version__", "history",
                                           "load", "compare", "acapacity", "asweep", "capacity",
                                           "sweep", "cluster"}
    assert loadnb.__all__ == sorted(loadnb.__all__)


def test_import_has_no_heavy_imports_or_side_effects() -> None:
    proc = python("""
        import sys, threading, asyncio
        import loadnb
        heavy = [m for m in ("pandas", "ipywidgets", "bokeh", "dask", "jupyter_bokeh",
                             "nest_asyncio2") if m in sys.modules]
        print(heavy, threading.active_count())
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "1"]


def test_blocking_run_in_a_script_uses_uvloop() -> None:
    with RawHTTPServer() as server:
        proc = python(f"""
            import asyncio, json, loadnb
            seen = []
            orig = loadnb.Run.start
            def spy(self):
                seen.append(type(asyncio.get_running_loop()).__module__)
                orig(self)
            loadnb.Run.start = spy
            r = loadnb.run({server.url!r}, users=2, requests=20)
            print(json.dumps([seen, r.summary["total_requests"], r.state]))
        """)
        assert proc.returncode == 0, proc.stderr
        loops, total, state = json.loads(proc.stdout)
        assert loops == ["uvloop"] and total == 20 == server.received and state == "done"


def test_blocking_run_inside_a_running_loop_goes_through_nest_asyncio2() -> None:
    with RawHTTPServer() as server:
        proc = python(f"""
            import asyncio, loadnb
            async def cell():
                r = loadnb.run({server.url!r}, users=2, requests=10)
                after = await asyncio.sleep(0, result="loop still usable")
                print(r.summary["completed_requests"], after)
            asyncio.run(cell())
        """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "10 loop still usable"


def test_bad_input_raises_before_anything_starts() -> None:
    proc = python("""
        import threading, loadnb
        for kw in [dict(users=-3), dict(duration="banana"), dict(users=1, rate=2)]:
            try:
                loadnb.run("http://127.0.0.1:9/", **kw)
            except ValueError as exc:
                print(str(exc).splitlines()[0][:20])
        try:
            loadnb.run("not-a-url")
        except ValueError as exc:
            print("url:", exc)
        print(threading.active_count())
    """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 5 and lines[-1] == "1"
    assert lines[3].startswith("url: invalid URL 'not-a-url'")


async def test_arun_and_a_cancelled_wait_stops_the_run() -> None:
    """Cancelling the awaiting cell (a kernel interrupt) stops the run and keeps its accounting."""
    import asyncio

    with RawHTTPServer(lambda i: Action(delay=0.05)) as server:
        run = Run(make_spec(server.url, rate=100, duration=30, interval=0.1))
        waiter = asyncio.get_running_loop().create_task(run.run())
        await until(lambda: len(run.snapshots) >= 5)  # half a second of arrivals in flight
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert run.done and run.result.state == "stopped"
        o = run.result.overall
        assert server.received <= o.completed + o.failed + o.cancelled
        assert o.completed + o.failed + o.cancelled - server.received <= 10
        result = await loadnb.arun(server.url, users=1, requests=3)
    assert result.summary["completed_requests"] == 3


def test_run_takes_a_scenario_first_like_loadtest() -> None:
    with RawHTTPServer() as server:
        proc = python(f"""
            import loadnb

            async def hit(user):
                await user.get("/", name="hit")

            r = loadnb.run(hit, url={server.url!r}, users=2, requests=10)
            print(r.summary["total_requests"], r.transport)
            try:
                loadnb.run({server.url!r}, url={server.url!r})
            except ValueError as exc:
                print(exc)
        """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "10 aiohttp" and "give the URL once" in lines[1]
