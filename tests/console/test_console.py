"""The terminal face: the progress line, the summary table and the ConsoleProgress subscriber."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadnb.console import ConsoleProgress, format_summary
from loadnb.console.live import _display_width, _fit
from loadnb.metrics.snapshot import Snapshot
from loadnb.record.record import RunRecord
from loadnb.record.summary import Summary, summary_of
from loadnb.results.result import Result
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.conftest import until
from tests.doubles import FakeClock, MockTransport

ROOT = Path(__file__).resolve().parents[2]
BRIEF = "🔄 Running... 45.2% | Active: 15 | RPS: 12.5 | Success: 98.5% | Completed: 1,250"


def snap(**changes: Any) -> Snapshot:
    """A snapshot with the brief's example values, changed by ``changes``."""
    values: dict[str, Any] = dict(
        timestamp=1.0, elapsed_time=45.2, progress_percent=45.2, active_users=15,
        completed_requests=1250, failed_requests=19, success_rate=98.5, current_rps=12.5,
        peak_rps=14.0, estimated_completion=54.8)
    values.update(changes)
    return Snapshot(**values)


# -- format_summary ----------------------------------------------------------------------------
def full_summary() -> Summary:
    lat = {"p50": 12.5, "p90": 30.0, "p95": 41.25, "p99": 80.0, "p99.9": 120.0,
           "p99.99": 130.0, "max": 150.5, "mean": 15.0}
    return summary_of({
        "run_id": "abc123", "url": "http://user:***@127.0.0.1:8000/api", "state": "done",
        "duration_s": 30.012, "total_requests": 12500, "completed_requests": 12300,
        "failed_requests": 180, "cancelled_requests": 20, "success_rate": 98.558,
        "avg_rps": 416.5, "peak_rps": 512.25, "dropped_arrivals": 3,
        "latency_ms": lat, "service_ms": {k: v / 2 for k, v in lat.items()},
        "status_codes": {"200": 12300, "500": 150},
        "errors": {"timeout": 5, "HTTP 500": 150, "connection reset": 25},
        "warnings": ["event loop lagged 120 ms"], "error": None,
        "latency_basis": "response time from the intended start",
        "parameters": {"model": "open", "rate": 400.0, "duration": 30.0, "method": "GET",
                       "headers": {"Authorization": "***"}},
    })


def test_format_summary_table() -> None:
    text = format_summary(full_summary())
    lines = text.splitlines()
    assert lines[0] == "loadnb run abc123 (done)"
    assert "12,500 total | 12,300 completed | 180 failed | 20 cancelled" in text
    assert "98.6%" in text and "30.01 s" in text
    assert "416.5 req/s avg | 512.2 req/s peak" in text
    assert "open model, 400 requests/s, 30 s" in text
    assert "200: 12,300, 500: 150" in text
    assert "3 arrivals" in text
    assert re.search(r"^  Latency basis +response time from the intended start$", text,
                     re.MULTILINE)
    header = next(line for line in lines if "Latency (ms)" in line)
    assert header.split()[2:] == ["p50", "p90", "p95", "p99", "p99.9", "max", "mean"]
    response = next(line for line in lines if line.strip().startswith("response"))
    assert response.split()[1:] == ["12.50", "30.00", "41.25", "80.00", "120.00", "150.50",
                                    "15.00"]
    # aligned: every percentile column ends where its header does
    assert len(header) == len(response)
    errors = [line for line in lines if "HTTP 500" in line or "reset" in line or "timeout:" in line]
    assert [e.split()[-1] for e in errors] == ["150", "25", "5"]  # most frequent first
    assert "event loop lagged 120 ms" in text
    assert "***" not in text.replace("user:***@", "")  # headers are never shown


def test_format_summary_of_empty_and_partial_summaries() -> None:
    empty = Result(RunRecord("r0", make_spec("http://127.0.0.1:9/"), 0.0, "aiohttp")).summary
    text = format_summary(empty)
    assert "0 total | 0 completed | 0 failed | 0 cancelled" in text
    assert re.search(r"^  Success rate +—$", text, re.MULTILINE)
    assert "nan" not in text.lower() and "none" not in text.lower()
    partial = format_summary(summary_of({"run_id": "r9"}))  # a partial dict, filled in, too
    assert partial.splitlines()[0] == "loadnb run r9"
    assert re.search(r"^  Success rate +—$", partial, re.MULTILINE)
    assert "nan" not in partial.lower() and "none" not in partial.lower()


def test_format_summary_caps_error_kinds_and_shows_run_error() -> None:
    summary = full_summary()
    summary["errors"] = {f"HTTP {500 + i}": 100 - i for i in range(8)}
    summary["error"] = "RuntimeError: boom"
    text = format_summary(summary)
    assert "HTTP 504: 96" in text and "HTTP 505" not in text
    assert "(+3 more kinds)" in text
    assert "Run error" in text and "RuntimeError: boom" in text


# -- ConsoleProgress ---------------------------------------------------------------------------
def test_progress_not_a_tty_prints_at_most_once_per_second() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = ConsoleProgress(out, tty=False, clock=clock)
    for i, t in enumerate([0.5, 1.0, 1.49, 1.5, 2.0, 2.4, 2.6, 3.0]):
        clock.set(t)
        progress(snap(completed_requests=i, progress_percent=10.0 * i))
    lines = out.getvalue().splitlines()
    assert [line.rsplit(" ", 1)[-1] for line in lines] == ["0", "3", "6"]  # t = 0.5, 1.5, 2.6
    progress.close()  # the last snapshot (t = 3.0) was held back: close writes it
    assert out.getvalue().splitlines()[-1].endswith("Completed: 7")
    progress.close()
    assert len(out.getvalue().splitlines()) == 4


def test_progress_final_state_always_written_once() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = ConsoleProgress(out, tty=False, clock=clock)
    progress(snap())
    progress(snap(phase="done", progress_percent=100.0))  # held back: the state decides the label
    progress.set_state("done")
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines == [BRIEF, "✅ Done 100.0% | Active: 15 | RPS: 28.1 | Success: 98.5% | "
                            "Completed: 1,250"]


def test_progress_on_a_tty_rewrites_the_line() -> None:
    out = io.StringIO()
    progress = ConsoleProgress(out, tty=True)
    progress(snap())
    progress(snap(completed_requests=1300))
    assert out.getvalue() == f"\r{BRIEF}\x1b[K\r{BRIEF[:-5]}1,300\x1b[K"
    assert "\n" not in out.getvalue()
    progress.close()
    assert out.getvalue().endswith("\n")


def test_fit_cuts_to_the_terminal_width() -> None:
    cut = _fit(BRIEF, 40)
    assert cut.endswith("…") and _display_width(cut) <= 39
    assert _fit(BRIEF, 200) == BRIEF


def answering(options: object) -> MockTransport:
    """A transport that answers 200 after 2 ms."""
    return MockTransport(delay=0.002)


def crashing(options: object) -> MockTransport:
    """A transport that answers 200 after 2 ms and fails to close (a run that crashes)."""
    return MockTransport(delay=0.002, close_error=RuntimeError("transport exploded"))


async def test_progress_attached_to_a_run_ends_with_done() -> None:
    out = io.StringIO()
    run = Run(make_spec("http://127.0.0.1:9/", users=4, requests=200, interval=0.05),
              transport=answering)
    ConsoleProgress(out, tty=False).attach(run)
    await run.run()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("🔄 Running...")
    assert lines[-1].startswith("✅ Done 100.0% | Active: 0 |")
    assert lines[-1].endswith("Completed: 200")


async def test_progress_attached_to_a_stopped_run_ends_with_stopped() -> None:
    out = io.StringIO()
    run = Run(make_spec("http://127.0.0.1:9/", users=4, duration=30, interval=0.05),
              transport=answering)
    progress = ConsoleProgress(out, tty=True)
    progress.attach(run)
    run.start()
    await until(lambda: len(run.snapshots) >= 6)  # under way, lines written
    run.stop()
    await run.wait()
    progress.close()
    last = out.getvalue().rsplit("\r", 1)[-1]
    assert last.startswith("⏹ Stopped ") and not last.startswith("⏹ Stopped 100.0%")


async def test_progress_attached_to_a_failed_run_ends_with_failed() -> None:
    out = io.StringIO()
    run = Run(make_spec("http://127.0.0.1:9/", users=2, duration=0.3, interval=0.05),
              transport=crashing)
    ConsoleProgress(out, tty=False).attach(run)
    with pytest.raises(RuntimeError, match="exploded"):
        await run.run()
    assert out.getvalue().splitlines()[-1].startswith("❌ Failed ")


def test_console_imports_no_heavy_faces() -> None:
    names: set[str] = set()
    for path in sorted((ROOT / "loadnb" / "console").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names  # the package's files were read
    assert not {m for m in names if m.split(".")[0] in ("pandas", "ipywidgets", "bokeh")}
    code = ("import sys, loadnb.console, loadnb.cli; "
            "print(sorted(m for m in ('pandas', 'ipywidgets', 'bokeh') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_progress_on_a_dumb_terminal_pads_instead_of_escape_codes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    out = io.StringIO()
    progress = ConsoleProgress(out, tty=True)
    progress(snap(completed_requests=1300))
    progress(snap(completed_requests=5))
    assert "\x1b" not in out.getvalue()
    assert out.getvalue().endswith("Completed: 5    ")  # "1,300" overwritten by "5" + 4 spaces


def test_threshold_rows_never_round_a_value_across_its_bound() -> None:
    text = format_summary(summary_of({"thresholds": [
        {"expr": "errors<1%", "observed": 1.0004, "passed": False},
        {"expr": "p95<300ms", "observed": 12.3456, "passed": True},
        {"expr": "checks>99%", "observed": 98.99996, "passed": False},
        {"expr": "iterations_failed[buy]<1", "observed": 555.0, "passed": False}]}))
    assert "✗ FAIL  errors<1%  (observed 1.0004)" in text, text
    assert "✓ pass  p95<300ms  (observed 12.346)" in text
    assert "✗ FAIL  checks>99%  (observed 98.99996)" in text
    assert "✗ FAIL  iterations_failed[buy]<1  (observed 555)" in text  # a count, no decimals


# -- message streams ---------------------------------------------------------------------------
def stream(kind: str, **changes: Any) -> dict[str, Any]:
    """A ``summary["messages"]`` entry, changed by ``changes``."""
    entry: dict[str, Any] = {
        "kind": kind, "opened": 30, "failed": 0, "closed": 30, "close_codes": {"1000": 30},
        "errors": {}, "sent": 120, "received": 120, "bytes_sent": 690, "bytes_received": 690,
        "first_message_p50_ms": 1.5, "p50_ms": 0.75, "p95_ms": 2.5, "p99_ms": 4.0}
    entry.update(changes)
    return entry


def test_format_summary_has_a_row_per_message_stream() -> None:
    summary = full_summary()
    summary["messages"] = {  # type: ignore[typeddict-item]
        "echo": stream("ws", opened=1250, failed=3, sent=5000, received=4998),
        "feed": stream("sse", sent=0, received=1500, p50_ms=None, p95_ms=None, p99_ms=None)}
    lines = format_summary(summary).splitlines()
    header = next(line for line in lines if line.strip().startswith("Stream"))
    assert header.split() == ["Stream", "Kind", "Opened", "Failed", "Sent", "Received", "p50",
                              "p95", "p99", "ms"]
    echo = next(line for line in lines if line.strip().startswith("echo"))
    assert echo.split() == ["echo", "ws", "1,250", "3", "5,000", "4,998", "0.75", "2.50", "4.00"]
    feed = next(line for line in lines if line.strip().startswith("feed"))
    assert feed.split() == ["feed", "sse", "30", "0", "0", "1,500", "—", "—", "—"]
    assert len(header) == len(echo) == len(feed)  # aligned: right-justified columns
    assert lines.index(header) > next(i for i, line in enumerate(lines) if "response" in line)


def test_format_summary_without_streams_has_no_stream_table() -> None:
    assert "Stream" not in format_summary(full_summary())


async def test_the_stream_rows_of_a_real_websocket_run(demo_url: str) -> None:
    from tests.results.test_report_protocols import echo_chat

    result = await echo_chat(demo_url)
    echo = result.summary["messages"]["echo"]
    assert echo["opened"] == 6 and echo["sent"] == echo["received"] == 18
    row = next(line for line in format_summary(result.summary).splitlines()
               if line.strip().startswith("echo"))
    assert row.split()[:6] == ["echo", "ws", "6", "0", "18", "18"]
    assert row.split()[6:] == [f"{echo[k]:.2f}" for k in ("p50_ms", "p95_ms", "p99_ms")]
