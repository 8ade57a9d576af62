"""The ``loadnb`` command, run as a real subprocess against the demo server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadnb import demo
from loadnb._version import __version__
from loadnb.cli import command as cli
from loadnb.cli import run as cli_run
from loadnb.metrics.snapshot import BRIEF_FIELDS
from loadnb.record.record import RunRecord
from loadnb.results.result import Result
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from loadnb.transport.base import Request

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
SUMMARY_KEYS = {"run_id", "url", "duration_s", "total_requests", "completed_requests",
                "failed_requests", "cancelled_requests", "success_rate", "avg_rps", "peak_rps",
                "latency_ms", "service_ms", "status_codes", "errors"}
LATENCY_KEYS = {"p50", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean"}


def loadnb(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loadnb.cli ARGS`` and wait for it."""
    return subprocess.run([sys.executable, "-m", "loadnb.cli", *args], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=timeout, stdin=subprocess.DEVNULL)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "loadnb.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
                            stdin=subprocess.DEVNULL)


def server_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "stats", timeout=5) as resp:
        stats: dict[str, Any] = json.load(resp)
    return stats


def answered(stats: dict[str, Any]) -> int:
    return sum(stats["responses"].values())


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    url = demo.start_sync()
    yield url
    demo.stop_sync(url)


@pytest.fixture
def url(server: str) -> str:
    """The demo server's URL, its counters reset."""
    req = urllib.request.Request(server + "stats/reset", method="POST")
    with urllib.request.urlopen(req, timeout=5):
        pass
    return server


def test_json_summary_matches_the_server(url: str) -> None:
    done = loadnb("run", url, "--users", "4", "--duration", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    summary = json.loads(done.stdout)
    assert SUMMARY_KEYS <= summary.keys()
    assert set(summary["latency_ms"]) == LATENCY_KEYS == set(summary["service_ms"])
    assert summary["state"] == "done" and summary["url"] == url
    n = summary["completed_requests"] + summary["failed_requests"]
    assert n > 0 and summary["total_requests"] == n + summary["cancelled_requests"]
    stats = server_stats(url)
    assert n <= answered(stats) <= n + summary["cancelled_requests"]
    assert summary["status_codes"] == {"200": summary["completed_requests"]}
    assert "Latency (ms)" in done.stderr and "✅ Done 100.0%" in done.stderr


@pytest.mark.parametrize("transport", ["auto", "fast", "aiohttp"])
def test_request_count_reaches_the_server_exactly(url: str, transport: str) -> None:
    done = loadnb("run", url, "--users", "5", "--requests", "150", "--json", "--quiet",
                  "--transport", transport)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    summary = json.loads(done.stdout)
    assert summary["transport"] == ("fast" if transport == "auto" else transport)
    assert summary["total_requests"] == summary["completed_requests"] == 150
    stats = server_stats(url)
    assert stats["requests"] == answered(stats) == 150


def test_failed_requests_still_exit_zero(url: str) -> None:
    done = loadnb("run", url + "status/503", "--users", "2", "--requests", "20", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["failed_requests"] == 20 and summary["errors"] == {"HTTP 503": 20}
    assert "HTTP 503: 20" in done.stderr


def test_expect_status_and_post_body_from_file(url: str, tmp_path: Path) -> None:
    body = tmp_path / "item.json"
    body.write_text('{"name": "eggs", "price": 3}', encoding="utf-8")
    done = loadnb("run", url + "api/items", "-X", "POST", "--body", f"@{body}", "-H",
                  "Content-Type: application/json", "--expect-status", "201,200",
                  "--requests", "10", "--users", "2", "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["completed_requests"] == 10, summary
    assert summary["parameters"]["expect_status"] == [200, 201]
    assert summary["parameters"]["body_bytes"] == body.stat().st_size


@pytest.mark.slow
def test_rate_400_for_5s_delivers_2000_arrivals(url: str) -> None:
    done = loadnb("run", url, "--rate", "400", "--duration", "5", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    arrivals = server_stats(url)["requests"]
    assert abs(arrivals - 2000) <= 40, (arrivals, summary)
    assert abs(summary["total_requests"] - 2000) <= 40
    assert summary["dropped_arrivals"] == 0


BAD_INPUTS: list[tuple[list[str], str]] = [
    (["run", "not-a-url"], "invalid URL 'not-a-url'"),
    (["run", "ftp://x"], "expected http:// or https://"),
    (["run", "{url}", "--users", "-3"], "users must be at least 1, got -3"),
    (["run", "{url}", "--users", "abc"], "users must be a number, got 'abc'"),
    (["run", "{url}", "--users", "2.5"], "users must be a whole number"),
    (["run", "{url}", "--rate", "inf"], "rate must be a finite number"),
    (["run", "{url}", "--duration", "banana"], "duration must be a number of seconds"),
    (["run", "{url}", "--users", "2", "--rate", "5"], "either users (closed model) or rate"),
    (["run", "{url}", "--body", "@/nonexistent/body.json"], "cannot read body file"),
    (["run", "{url}", "--header", "no-colon-here"], "invalid header 'no-colon-here'"),
    (["run", "{url}", "--out", "results.txt"], "--out must end in .csv or .json"),
    (["run", "{url}", "--out", "/nonexistent/dir/x.csv"], "does not exist"),
    (["run", "{url}", "--out", "/etc/passwd/run.csv"], "--out: '/etc/passwd' is not a directory"),
    (["run", "{url}", "--junit", "/etc/passwd/a/j.xml"], "--junit: '/etc/passwd' is not a"),
    (["run", "{url}", "--junit", "/proc/j.xml"], "--junit: cannot write in '/proc'"),
    (["run", "{url}", "--summary-md", "/tmp"], "--summary-md: '/tmp' is a directory"),
    (["run", "{url}", "-u", "100000000"], "users must be at most 1,000,000, got 100000000"),
    (["run", "{url}", "-r", "10000000"], "rate must be at most 1,000,000 per second, got 10000000"),
    (["run", "{url}", "-d", "800h"], "duration must be at most 2,592,000 s (30 days), got '800h'"),
    (["run", "{url}", "--expect-status", "200,abc"], "expect_status must be HTTP status codes"),
    (["run", "{url}", "--method", "FETCH"], "method must be one of"),
    (["run", "{url}", "--ramp-up", "20s", "--duration", "5s"], "ramp_up (20s) is longer"),
    (["run", "{url}", "--transport", "curl"], "transport must be one of"),
    (["run", "{url}", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["run", "{url}", "--users"], "expected one argument"),
    (["run"], "give a URL to load (or --scenario FILE.py:NAME)"),
    ([], "a command is required"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS,
                         ids=[" ".join(a) or "(none)" for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(url: str, args: list[str], message: str) -> None:
    done = loadnb(*(a.replace("{url}", url) for a in args))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("loadnb: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    assert server_stats(url)["requests"] == 0  # nothing started


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_with_partial_summary(url: str, signum: int) -> None:
    proc = start("run", url + "delay?delay_ms=20", "--users", "4", "--duration", "30", "--json")
    try:
        deadline = time.monotonic() + 15
        # 8 requests arrived: each user's second one, so every user has completed a request
        while server_stats(url)["requests"] < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, stderr  # 130 for Ctrl-C, 143 for SIGTERM
    assert "Traceback" not in stderr
    assert "⏹ Stopped" in stderr and "Latency (ms)" in stderr and "(stopped)" in stderr
    assert f"stopped by {signal.Signals(signum).name}" in stderr
    summary = json.loads(stdout)
    assert summary["state"] == "stopped" and summary["duration_s"] < 15
    n = summary["completed_requests"] + summary["failed_requests"]
    assert n > 0 and summary["total_requests"] == n + summary["cancelled_requests"]
    assert n <= answered(server_stats(url)) <= summary["total_requests"]


def test_progress_line_on_stderr_when_not_a_tty(url: str) -> None:
    started = time.monotonic()
    done = loadnb("run", url + "delay?delay_ms=5", "--users", "2", "--duration", "2.5")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if " | Active: " in line]
    running = [line for line in lines if line.startswith("🔄 Running... ")]
    assert 2 <= len(running) <= 3  # at most one a second over 2.5 s
    # Timed lines at most once a second (floor(elapsed) + 1 of them fit in the run, one exactly
    # a second after the other on the tick grid), plus the final line, which is always written.
    assert len(lines) <= math.floor(elapsed) + 2
    assert lines[-1].startswith("✅ Done 100.0% | Active: 0 | RPS: ")


def test_progress_line_rewritten_in_place_on_a_tty(url: str) -> None:
    pty = pytest.importorskip("pty")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadnb.cli", "run", url, "--users", "2", "--duration", "1.2"],
        stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL, cwd=ROOT,
        env={**ENV, "TERM": "xterm", "COLUMNS": "200"})
    os.close(follower)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.communicate(timeout=15)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    text = b"".join(chunks).decode()
    live, _, table = text.partition("\r\n")  # the terminal turns "\n" into "\r\n"
    updates = live.split("\r")[1:]
    assert len(updates) >= 3 and all(u.endswith("\x1b[K") for u in updates), live
    assert updates[0].startswith("🔄 Running... ") and updates[-1].startswith("✅ Done 100.0%")
    assert "Latency (ms)" in table


def test_planted_secrets_never_leak(url: str, tmp_path: Path) -> None:
    creds_url = url.replace("http://", "http://user:pw@")
    auth = ["-H", "Authorization: Bearer SECRET123"]
    cookie = ["-H", "Cookie: session=SECRET456", "-H", "X-Api-Key: SECRET789"]
    both = loadnb("run", creds_url, *auth, "--requests", "1")
    assert both.returncode == 2 and both.stdout == ""
    assert both.stderr.strip() == ("loadnb: error: give credentials either in the URL or in an "
                                   "Authorization header, not both")
    runs: list[tuple[str, list[str], str]] = [  # target, headers, --out
        (creds_url, cookie, "creds.csv"),  # URL credentials become a Basic Authorization header
        (url, auth, "auth.json"),
    ]
    seen = [both.stderr]
    for target, headers, out in runs:
        done = loadnb("run", target, *headers, "--users", "2", "--duration", "0.6",
                      "--interval", "0.2", "--json", "--out", str(tmp_path / out))
        assert done.returncode == 0, done.stderr
        seen += [done.stdout, done.stderr, (tmp_path / out).read_text(encoding="utf-8")]
        summary = json.loads(done.stdout)
        assert summary["url"] == url
        assert set(summary["parameters"]["headers"].values()) == {"***"}
        assert summary["completed_requests"] > 0, summary
    for text in seen:
        for secret in ("SECRET123", "SECRET456", "SECRET789", ":pw@", "user:pw"):
            assert secret not in text


def test_out_files(url: str, tmp_path: Path) -> None:
    import pandas as pd

    csv, js = tmp_path / "run.csv", tmp_path / "run.json"
    for out in (csv, js):
        done = loadnb("run", url, "--users", "2", "--duration", "1.2", "--interval", "0.2s",
                      "--out", str(out), "--quiet")
        assert done.returncode == 0 and done.stderr == "" and done.stdout == ""
    frame = pd.read_csv(csv)
    assert set(BRIEF_FIELDS) <= set(frame.columns)
    assert len(frame) >= 5 and frame["completed_requests"].is_monotonic_increasing
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert {"summary", "snapshots"} <= set(doc) and SUMMARY_KEYS <= doc["summary"].keys()
    assert doc["format"] == "loadnb-run"  # the run's export (loadnb.export): loadnb.load reads it
    assert len(doc["snapshots"]) >= 5 and set(BRIEF_FIELDS) <= doc["snapshots"][0].keys()


def test_report_out_that_cannot_be_written_is_exit_2_before_loading(tmp_path: Path) -> None:
    history = str(tmp_path / "none.sqlite")  # no such run either: the --out check comes first
    for out, message in [("/proc/r.html", "--out: cannot write in '/proc'"),
                         ("/etc/passwd/r.html", "--out: '/etc/passwd' is not a directory"),
                         (str(tmp_path), f"--out: {str(tmp_path)!r} is a directory")]:
        done = loadnb("report", "no-such-run", "-o", out, "--history", history)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"loadnb: error: {message}"), lines
    assert not (tmp_path / "none.sqlite").exists()


def test_version_and_help() -> None:
    done = loadnb("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"loadnb {__version__}"
    done = loadnb("run", "--help")
    assert done.returncode == 0 and "--max-in-flight" in done.stdout and done.stderr == ""


def test_demo_subcommand_delegates() -> None:
    bad = loadnb("demo", "--error-rate", "7")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    assert "Traceback" not in bad.stderr
    proc = start("demo", "--port", "0")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("loadnb demo server on http://127.0.0.1:"), line
        stats = server_stats(line.split()[-1])
        assert stats["requests"] == 0
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


# -- in-process: internal errors and the exit-code seam ------------------------------------------
class ExplodingTransport:
    """Answers 200 at once, then fails on close: the run itself fails."""

    name = "exploding"
    waiting = 0

    def __init__(self, spec: object) -> None:
        self.spec = spec

    async def send(self, request: Request) -> tuple[int, int]:
        return 200, 0

    def classify(self, exc: BaseException) -> str:
        return "exception"

    async def aclose(self) -> None:
        raise RuntimeError("transport exploded")


def test_internal_error_exits_1(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli_run, "Run",
                        lambda spec, **kw: Run(spec, transport=ExplodingTransport, **kw))
    code = cli.main(["run", "http://127.0.0.1:9/", "--requests", "5", "--json"])
    captured = capsys.readouterr()
    assert code == 1
    assert "loadnb: error: the run failed: RuntimeError: transport exploded" in captured.err
    assert "Traceback" not in captured.err
    assert json.loads(captured.out)["state"] == "failed"


def test_result_exit_code_is_zero_even_with_failures() -> None:
    result = Result(RunRecord("r1", make_spec("http://127.0.0.1:9/"), 0.0, "aiohttp"))
    result.overall.failed = 10
    assert cli_run.result_exit_code(result) == 0
