"""The one live line (:mod:`loadnb.results.words`, tqdm's ``format_meter`` model): a pure function
of a snapshot, the run's state and the scenario's iteration counts. The console and the widget
only render it, so they say the same string, for every state and every snapshot: checked on a
table of states and snapshots, and on real runs (to their end, and stopped) with both faces
following one run against the demo server on loopback."""

from __future__ import annotations

import asyncio
import html
import io
import math
import re
from typing import Any

import pytest

from loadnb.console import ConsoleProgress, format_summary
from loadnb.engine.vuser import VirtualUser
from loadnb.metrics.snapshot import Snapshot
from loadnb.record.summary import summary_of
from loadnb.results.words import FINAL_STATES, STATES, done_line, live_line, load_text
from loadnb.spec.config import make_spec
from loadnb.ui.formatting import metrics_html
from tests.conftest import until
from tests.console.test_console import BRIEF, snap
from tests.doubles import FakeClock


# -- the live line -------------------------------------------------------------------------------
def test_live_line_is_the_brief_line() -> None:
    assert live_line(snap()) == BRIEF


def test_live_line_dash_until_first_response() -> None:
    line = live_line(snap(success_rate=math.nan, completed_requests=0, current_rps=0.0))
    assert line == "🔄 Running... 45.2% | Active: 15 | RPS: 0.0 | Success: — | Completed: 0"


def test_live_line_thousands_separators() -> None:
    line = live_line(snap(active_users=2500, current_rps=12345.67, completed_requests=1234567))
    assert "Active: 2,500 | RPS: 12,345.7 |" in line
    assert line.endswith("Completed: 1,234,567")


def test_live_line_never_shows_100_percent_with_failures() -> None:
    assert "Success: 99.9%" in live_line(snap(success_rate=99.97))
    assert "Success: 100.0%" in live_line(snap(success_rate=100.0))


def test_live_line_stopping_labels() -> None:
    assert live_line(snap(), "stopping").startswith("⏳ Stopping... 45.2% |")
    assert live_line(snap(phase="ending")).startswith("⏳ Stopping... ")
    assert live_line(snap(phase="done")).startswith("⏳ Stopping... ")


@pytest.mark.parametrize(("state", "label"), [("done", "✅ Done"), ("stopped", "⏹ Stopped"),
                                              ("failed", "❌ Failed")])
def test_live_line_final_labels_show_average_rps(state: str, label: str) -> None:
    final = snap(phase="done", elapsed_time=10.0, completed_requests=990, failed_requests=10,
                 current_rps=3000.0, progress_percent=100.0, active_users=0)
    assert live_line(final, state) == (
        f"{label} 100.0% | Active: 0 | RPS: 100.0 | Success: 98.5% | Completed: 990")


def test_live_line_rejects_unknown_state() -> None:
    with pytest.raises(ValueError, match="state must be one of"):
        live_line(snap(), "paused")



def test_live_line_says_failed_iterations_after_the_requests() -> None:
    plain = live_line(snap())
    assert live_line(snap(), iterations={"browse": [10, 0]}) == plain
    assert live_line(snap(), iterations={"browse": [10, 0], "buy": [4, 3]}) == (
        f"{plain} | ⚠ Iterations 3 failed of 14 (buy: 3/4)")


def test_live_line_without_a_snapshot_or_progress() -> None:
    assert live_line(None, "idle") == (
        "⏸ Ready 0.0% | Active: 0 | RPS: 0.0 | Success: — | Completed: 0")
    assert live_line(snap(progress_percent=math.nan)).startswith("🔄 Running... — | Active")


def test_every_state_has_its_own_words_and_stopping_is_not_stopped() -> None:
    assert list(STATES) == ["idle", "running", "stopping", "done", "stopped", "failed"]
    assert len({w.icon for w in STATES.values()}) == len(STATES)  # one icon says one state
    assert STATES["stopping"].icon == "⏳" and STATES["stopped"].icon == "⏹"
    assert FINAL_STATES == {"done", "stopped", "failed"}
    for state, words in STATES.items():
        assert live_line(snap(), state).startswith(f"{words.icon} {words.label} ")
        assert words.badge == words.badge.upper() and words.badge.isascii()


def test_done_line_and_load_in_words() -> None:
    summary = summary_of({
        "state": "done", "duration_s": 8.04, "total_requests": 1250, "avg_rps": 155.47,
        "success_rate": 99.97, "latency_ms": {"p50": 12.34, "p99": 45.6}})
    assert done_line(summary) == ("✅ Done after 8.0 s: 1,250 requests, 155.5 req/s on average, "
                                  "success 99.9%, p50 12.3 ms, p99 45.6 ms.")
    assert done_line({**summary, "state": "stopped"}).startswith("⏹ Stopped after 8.0 s:")
    assert done_line(summary_of({"state": "failed"})) == (  # what a run with no answer says
        "❌ Failed after 0.0 s: 0 requests, 0.0 req/s on average, success —, p50 —, p99 —.")
    assert load_text(make_spec("http://127.0.0.1:9/", users=10, duration=8)) == ("10 users",
                                                                                 "8 s")
    assert load_text(make_spec("http://127.0.0.1:9/", rate=50, requests=12000)) == (
        "50 requests/s", "12,000 requests")


@pytest.mark.parametrize("kwargs", [
    {"users": 10, "duration": 8}, {"rate": 2.5, "duration": 8, "requests": 1000},
    {"stages": [("1s", 5), ("1s", 20)]}, {"users": 3, "requests": 50, "ramp_up": 2},
], ids=str)
def test_one_load_in_words_for_the_widget_and_the_summary_table(kwargs: dict[str, Any]) -> None:
    """The widget says it of the spec, the console's summary table of the stored parameters."""
    spec = make_spec("http://127.0.0.1:9/", **kwargs)
    load, length = load_text(spec)
    assert load_text(spec.public_params()) == (load, length)
    table = format_summary(summary_of({"parameters": spec.public_params()}))
    row = next(line for line in table.splitlines() if line.lstrip().startswith("Load "))
    assert row.split(None, 1)[1].startswith(f"{spec.model} model, {load}, {length}"), row
    assert ("stages up to 20 users" in load) == ("stages" in kwargs)
    assert ("at most 1,000 requests" in length) == ("requests" in kwargs and "duration" in kwargs)


# -- the faces render it, and nothing else -----------------------------------------------------
SNAPSHOTS = {
    "brief": snap(),
    "no response yet": snap(success_rate=math.nan, completed_requests=0, current_rps=0.0),
    "failures round to 100": snap(success_rate=99.97),
    "big numbers": snap(active_users=2500, current_rps=12345.67, completed_requests=1234567),
    "no progress": snap(progress_percent=math.nan),
    "grace period": snap(phase="ending", progress_percent=100.0),
    "last snapshot": snap(phase="done", progress_percent=100.0, elapsed_time=10.0),
    "nothing elapsed": snap(elapsed_time=0.0),
}
ITERATIONS: dict[str, dict[str, list[int]] | None] = {
    "no scenario": None, "iterations fine": {"browse": [10, 0]},
    "iterations failing": {"browse": [10, 0], "buy": [4, 3]},
}


def widget_text(value: str) -> str:
    """The text of the widget's metrics HTML, as the page shows it."""
    found = re.fullmatch(r"<div[^>]*>(.*)</div>", value)
    assert found, value
    return html.unescape(found.group(1))


def console_text(s: Snapshot, state: str, iterations: Any) -> str:
    """The line a ConsoleProgress writes to a log for ``s`` in ``state``."""
    out = io.StringIO()
    progress = ConsoleProgress(out, tty=False, clock=FakeClock())
    progress.set_state(state)
    progress.update(s, iterations)
    progress.close()
    return out.getvalue().splitlines()[-1]


@pytest.mark.parametrize("iterations", list(ITERATIONS), ids=str)
@pytest.mark.parametrize("which", list(SNAPSHOTS), ids=str)
@pytest.mark.parametrize("state", list(STATES))
def test_the_console_and_the_widget_say_the_same(state: str, which: str, iterations: str) -> None:
    s, its = SNAPSHOTS[which], ITERATIONS[iterations]
    shown = console_text(s, state, its)
    assert shown == widget_text(metrics_html(s, state, its)) == live_line(s, state, its)


async def browse(user: VirtualUser) -> None:
    await user.get("/", name="home")


async def broken(user: VirtualUser) -> None:
    """An iteration that always fails after its request (the live line says so)."""
    await user.get("/", name="home")
    raise RuntimeError("this task never works")


@pytest.mark.slow
@pytest.mark.parametrize("end", ["done", "stopped"])
async def test_both_faces_of_one_run_say_the_same_at_every_snapshot(demo_url: str,
                                                                    end: str) -> None:
    from loadnb.ui import LoadTest

    test = LoadTest({browse: 2, broken: 1}, url=demo_url, users=3,
                    duration=0.6 if end == "done" else 30, interval=0.1, graceful_stop=1,
                    history="off")
    out = io.StringIO()
    progress = ConsoleProgress(out, tty=True)  # on a terminal: every line drawn, none held back

    def console() -> str:
        return out.getvalue().rsplit("\r", 1)[-1].removesuffix("\n").removesuffix("\x1b[K")

    test.start()
    run = test.current_run
    assert run is not None
    progress.attach(run)  # after the widget: both have drawn a snapshot when the pairs are taken
    pairs: list[tuple[str, str]] = []
    run.subscribe(lambda _: pairs.append((console(), widget_text(test.metrics.value))))
    if end == "stopped":
        await until(lambda: len(pairs) >= 4)
        test.stop()
    await asyncio.wait_for(test.wait(), 10)
    progress.close()
    final = (console(), widget_text(test.metrics.value))
    assert len(pairs) >= 4
    assert [c for c, _ in pairs] == [w for _, w in pairs]
    assert final[0] == final[1]
    assert final[0].startswith("✅ Done 100.0%" if end == "done" else "⏹ Stopped ")
    assert "| ⚠ Iterations " in final[0]  # the scenario's failed iterations, on both faces
    assert any(c.startswith("🔄 Running... ") for c, _ in pairs)
