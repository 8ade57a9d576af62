"""Soak benchmark: one long loadnb run against a local server, watching for leaks.

Starts the demo server (``loadnb.demo.start_sync``; if that is missing or fails, a tiny aiohttp.web
server in a subprocess), runs loadnb against it on 127.0.0.1 for ``--duration`` at a bounded
``--rate`` (or ``--users``), and prints every ``--every`` seconds and at the end: RSS (VmRSS),
open file descriptors, ``len(asyncio.all_tasks())`` and requests so far. At the end: RSS growth
from the first minute to the end, fds and tasks after the run vs before it, and the accounting
(started = completed + failed + cancelled per name, interval rows add up, and the server's own
request count equals loadnb's total).

Exit status 0 when all is well; 1 when RSS grew by more than ``--max-growth-mb`` (default 50),
fds or tasks leaked, or the accounting does not hold; 2 when the server could not be started.

    python benchmarks/soak.py                    # 10 minutes at 300 requests/s
    python benchmarks/soak.py --duration 60      # a quick check
    nohup python benchmarks/soak.py > /tmp/soak.log 2>&1 &
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadnb import Run, make_spec
from loadnb.engine.loop import run_to_end
from loadnb.results.result import Result
from loadnb.text.units import parse_duration

MB = 1024 * 1024
FD_SLACK = 2  # fds the run may leave (none expected)

_FALLBACK_SERVER = r"""
import asyncio
import socket
from aiohttp import web

count = {"requests": 0}

async def ok(request):
    count["requests"] += 1
    return web.Response(text="OK\n")

async def stats(request):
    return web.json_response(count)

async def main():
    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


# -- process figures ---------------------------------------------------------------------------
def rss_bytes() -> int:
    """Resident set size of this process (VmRSS from /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def fmt_mb(n: float) -> str:
    return f"{n / MB:.1f} MB"


# -- the target --------------------------------------------------------------------------------
@dataclass
class Target:
    url: str
    kind: str
    stop: Callable[[], None]

    def requests_seen(self) -> int | None:
        """The server's own count of requests to / (None if it cannot tell)."""
        try:
            with urllib.request.urlopen(self.url + "stats", timeout=5) as resp:
                stats = json.loads(resp.read())
        except OSError:
            return None
        if self.kind == "demo":
            by_path = stats.get("by_path", {})
            return int(by_path.get("/", stats.get("requests", 0)))
        return int(stats["requests"])


def start_target() -> Target:
    """The demo server if it works here, else a tiny aiohttp.web server; both on 127.0.0.1."""
    try:
        from loadnb import demo

        url = demo.start_sync()
        return Target(url, "demo", lambda: demo.stop_sync(url))
    except Exception as exc:  # noqa: BLE001 - any failure: use the fallback
        print(f"# demo server unavailable ({type(exc).__name__}: {exc}); using a tiny "
              "aiohttp.web server", flush=True)
    proc = subprocess.Popen([sys.executable, "-c", _FALLBACK_SERVER], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(2)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    return Target(url, "aiohttp.web", stop)


# -- the soak ----------------------------------------------------------------------------------
def check_accounting(result: Result) -> list[str]:
    """Problems with started = completed + failed + cancelled, per name and overall."""
    problems = []
    o = result.overall
    total = o.completed + o.failed + o.cancelled
    started = sum(t.started for t in result.totals.values())
    if started != total:
        problems.append(f"started {started} != completed+failed+cancelled {total}")
    for name, t in result.totals.items():
        if t.started != t.completed + t.failed + t.cancelled:
            problems.append(f"{name}: started {t.started} != {t.completed}+{t.failed}+"
                            f"{t.cancelled}")
    rows = int(result.df["interval_requests"].sum())
    if rows != total:
        problems.append(f"sum of interval_requests {rows} != total {total}")
    return problems


async def soak(args: argparse.Namespace, target: Target) -> int:
    me = asyncio.current_task()
    tasks_before = len(asyncio.all_tasks())
    fds_before = open_fds()
    rss_start = rss_bytes()
    load: dict[str, Any] = {"users": args.users} if args.users else {"rate": args.rate}
    spec = make_spec(target.url, duration=args.duration, timeout=args.timeout, interval=1.0,
                     transport=args.transport, **load)
    print(f"# soak: {spec.model} model {load}, {args.duration:g} s, transport "
          f"{args.transport}, target {target.kind} {target.url}", flush=True)
    print(f"# before: RSS {fmt_mb(rss_start)}, fds {fds_before}, tasks {tasks_before}",
          flush=True)
    print(f"{'elapsed_s':>9} {'rss_mb':>8} {'fds':>5} {'tasks':>5} {'requests':>10} "
          f"{'failed':>8} {'rps':>8}", flush=True)

    run = Run(spec)
    t0 = time.perf_counter()
    run.start()
    baseline_at = min(60.0, args.duration / 2)
    rss_baseline: int | None = None
    rss_peak = rss_start

    def line(elapsed: float) -> None:
        snap = run.snapshots[-1] if run.snapshots else None
        done = (snap.completed_requests + snap.failed_requests) if snap else 0
        failed = snap.failed_requests if snap else 0
        rps = done / elapsed if elapsed > 0 else 0.0
        print(f"{elapsed:9.0f} {rss_bytes() / MB:8.1f} {open_fds():5d} "
              f"{len(asyncio.all_tasks()):5d} {done:10d} {failed:8d} {rps:8.1f}", flush=True)

    next_report = args.every
    while not run.done:
        await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - t0
        rss_peak = max(rss_peak, rss_bytes())
        if rss_baseline is None and elapsed >= baseline_at:
            rss_baseline = rss_bytes()
        if elapsed >= next_report and not run.done:
            line(elapsed)
            next_report += args.every
    result = await run.wait()
    for _ in range(5):  # closed transports release their sockets on the next iterations
        await asyncio.sleep(0)
    wall = time.perf_counter() - t0
    rss_end = rss_bytes()
    if rss_baseline is None:
        rss_baseline = rss_end
    fds_after = open_fds()
    tasks_after = len(asyncio.all_tasks())
    leftover = [t for t in asyncio.all_tasks() if t is not me]
    line(wall)

    s = result.summary
    seen = target.requests_seen()
    problems = check_accounting(result)
    if seen is not None and seen != s["total_requests"] - s["cancelled_requests"]:
        # cancelled requests may or may not have reached the server; none are expected here
        problems.append(f"server counted {seen} requests, loadnb "
                        f"{s['total_requests']} (cancelled {s['cancelled_requests']})")
    growth = rss_end - rss_baseline
    failures = []
    if growth > args.max_growth_mb * MB:
        failures.append(f"RSS grew by {fmt_mb(growth)} (> {args.max_growth_mb} MB)")
    if fds_after > fds_before + FD_SLACK:
        failures.append(f"file descriptors leaked: {fds_before} before, {fds_after} after")
    if tasks_after > tasks_before or leftover:
        failures.append(f"tasks leaked: {tasks_before} before, {tasks_after} after: "
                        f"{leftover[:5]}")
    failures += [f"accounting: {p}" for p in problems]

    print("# --- end of soak ---")
    print(f"# state {result.state}, wall {wall:.1f} s (run {s['duration_s']:.1f} s)")
    print(f"# requests {s['total_requests']:,} (completed {s['completed_requests']:,}, failed "
          f"{s['failed_requests']:,}, cancelled {s['cancelled_requests']:,}), avg_rps "
          f"{s['avg_rps']:.1f}, errors {s['errors']}")
    print(f"# latency p50 {s['latency_ms']['p50']} ms, p99 {s['latency_ms']['p99']} ms, "
          f"max {s['latency_ms']['max']} ms")
    print(f"# server counted {seen} requests ({target.kind})")
    print(f"# RSS: start {fmt_mb(rss_start)}, at {baseline_at:g} s {fmt_mb(rss_baseline)}, "
          f"end {fmt_mb(rss_end)}, peak {fmt_mb(rss_peak)}; growth from {baseline_at:g} s to "
          f"the end {growth / MB:+.1f} MB")
    print(f"# fds: before {fds_before}, after {fds_after}; tasks: before {tasks_before}, "
          f"after {tasks_after}")
    print(f"# accounting: {'ok' if not problems else '; '.join(problems)}")
    if result.warnings:
        print(f"# warnings: {result.warnings}")
    print("# RESULT: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)),
          flush=True)
    return 0 if not failures else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="600", help="run length: 600, 60s, 2m (600 s)")
    parser.add_argument("--rate", type=float, default=300.0,
                        help="arrivals per second, open model (300)")
    parser.add_argument("--users", type=int, default=None,
                        help="virtual users, closed model (instead of --rate)")
    parser.add_argument("--timeout", type=float, default=5.0, help="request timeout, s (5)")
    parser.add_argument("--transport", default="auto", choices=["auto", "fast", "aiohttp"])
    parser.add_argument("--every", type=float, default=30.0, help="report interval, s (30)")
    parser.add_argument("--max-growth-mb", type=float, default=50.0,
                        help="RSS growth from the first minute to the end that fails (50)")
    args = parser.parse_args(argv)
    args.duration = parse_duration(args.duration)
    if args.users is not None and args.users > 64:
        parser.error("--users is capped at 64 for a soak on one machine")
    if args.rate > 5000:
        parser.error("--rate is capped at 5000 for a soak on one machine")
    target = start_target()
    try:
        code: int = run_to_end(soak(args, target))  # uvloop when installed, as loadnb.run
        return code
    finally:
        target.stop()


if __name__ == "__main__":
    sys.exit(main())
