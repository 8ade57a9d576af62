"""Soak of a scaled-out run (issue 24): one ``workers=N`` run against a real nginx, RSS watched.

Starts a private nginx on 127.0.0.1 (``tests/nginx.py``: one access-log line per request), runs
loadnb against it with ``workers=N`` (a Dask ``LocalCluster`` of N worker processes, started by
the run) for ``--seconds`` at a bounded load (``--rate`` requests/s, default 2,000, or
``--users`` virtual users when ``--rate 0``), and every ``--every`` seconds samples the resident
set size of the driver (this process, which also holds the cluster's scheduler) and of each Dask
worker process (found as this process's Python children that are not multiprocessing helpers).

Prints a table (one row per sample: elapsed seconds, requests so far, driver RSS, each worker's
RSS), then the counts (loadnb's ``total_requests`` against nginx's access-log lines) and one JSON
line. Exit status 0 when the counts are equal and the run ended ``done``, 1 otherwise, 2 when
nginx could not be started.

    python benchmarks/soak_workers.py                                # 10 minutes, 2 workers
    python benchmarks/soak_workers.py --seconds 60 --every 10        # a quick check
    nohup python benchmarks/soak_workers.py > /tmp/soak_workers.log 2>&1 &
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: tests/nginx.py and loadnb from this tree
    sys.path.insert(0, str(ROOT))

from loadnb.runner.run import Run  # noqa: E402
from loadnb.spec.config import make_spec  # noqa: E402
from tests.nginx import Nginx, settled  # noqa: E402

MB = 1024 * 1024
#: Children of the driver that are multiprocessing's helpers, not Dask workers.
_HELPERS = ("resource_tracker", "forkserver", "semaphore_tracker")


def worker_processes(driver: psutil.Process) -> list[psutil.Process]:
    """The Dask worker processes under ``driver``: its Python descendants that are not
    multiprocessing helpers (nginx, also its child, is not Python), by pid."""
    found = []
    for proc in driver.children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "python" in cmd and not any(h in cmd for h in _HELPERS):
            found.append(proc)
    return sorted(found, key=lambda p: p.pid)


def rss_mb(proc: psutil.Process) -> float:
    """``proc``'s resident set size in MB (NaN once it is gone)."""
    try:
        return float(proc.memory_info().rss) / MB
    except psutil.Error:
        return float("nan")


def sample(driver: psutil.Process, elapsed: float, requests: int) -> dict[str, Any]:
    """One row of the table: when, requests so far, the driver's and each worker's RSS."""
    workers = {str(p.pid): round(rss_mb(p), 1) for p in worker_processes(driver)}
    return {"t_s": round(elapsed), "requests": requests,
            "driver_mb": round(rss_mb(driver), 1), "workers_mb": workers}


async def soak(url: str, args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run (its summary) and the RSS samples taken every ``args.every`` seconds."""
    # An open model keeps at most --max-in-flight requests in flight in all (split among the
    # workers; arrivals beyond are dropped and counted): below nginx's 256 worker_connections,
    # so a slow moment on the shared machine cannot make nginx refuse connections.
    load: dict[str, Any] = ({"rate": args.rate, "max_in_flight": args.max_in_flight}
                            if args.rate else {"users": args.users})
    run = Run(make_spec(url, duration=args.seconds, workers=args.workers, history="off",
                        interval="0.5s", **load))
    driver, rows = psutil.Process(), []
    task = asyncio.ensure_future(run.run())
    start = time.monotonic()
    rows.append(sample(driver, 0.0, 0))
    print(table_row(rows[-1]), flush=True)
    while not task.done():
        nxt = start + args.every * len(rows)
        done, _ = await asyncio.wait({task}, timeout=max(0.0, nxt - time.monotonic()))
        if done:
            break
        last = run.snapshots[-1] if run.snapshots else None
        served = last.completed_requests + last.failed_requests if last is not None else 0
        rows.append(sample(driver, time.monotonic() - start, served))
        print(table_row(rows[-1]), flush=True)
    result = await task
    return dict(result.summary), rows


def table_row(row: dict[str, Any]) -> str:
    """A sample as one line of the table."""
    workers = "  ".join(f"{pid}:{mb:7.1f}" for pid, mb in row["workers_mb"].items())
    return f"{row['t_s']:6d} {row['requests']:>11,} {row['driver_mb']:9.1f}   {workers}"


def growth(rows: list[dict[str, Any]]) -> dict[str, float]:
    """RSS growth (MB) of the driver and each worker from the first sample at or after 60 s (once
    the cluster is warm) to the last sample."""
    warm = [r for r in rows if r["t_s"] >= 60] or rows[1:] or rows
    first, last = warm[0], warm[-1]
    out = {"driver": round(last["driver_mb"] - first["driver_mb"], 1)}
    for pid, mb in last["workers_mb"].items():
        if pid in first["workers_mb"]:
            out[f"worker {pid}"] = round(mb - first["workers_mb"][pid], 1)
    return out


def logged_lines(nginx: Nginx, settle: float = 0.5, timeout: float = 30.0) -> int:
    """Lines in nginx's access log (one per request it finished), once the log stops growing;
    counted in chunks (a 10-minute log has millions of lines)."""
    path = settled(nginx.root / "access.log", settle, timeout, step=0.05)
    lines = 0
    with path.open("rb") as log:
        while chunk := log.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="run length (default 600)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (2)")
    parser.add_argument("--rate", type=float, default=2000.0,
                        help="requests/s in all (open model; default 2000; 0: use --users)")
    parser.add_argument("--max-in-flight", type=int, default=128,
                        help="requests in flight at most, in all, with --rate (128)")
    parser.add_argument("--users", type=int, default=16, help="virtual users when --rate 0 (16)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples (30)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.every <= 0 or args.workers < 1:
        parser.error("--seconds, --every and --workers must be positive")
    try:
        nginx = Nginx().__enter__()
    except RuntimeError as exc:
        print(f"soak_workers: {exc}", file=sys.stderr)
        return 2
    try:
        load = f"{args.rate:g} req/s" if args.rate else f"{args.users} users"
        print(f"soak: {args.workers} workers, {load}, {args.seconds:g} s against {nginx.url} "
              f"(pid {os.getpid()})", flush=True)
        print(f"{'t_s':>6} {'requests':>11} {'driver_MB':>9}   worker pid:RSS_MB ...", flush=True)
        summary, rows = asyncio.run(soak(nginx.url, args))
        logged = logged_lines(nginx)
        nginx_errors = nginx.error_log().strip().splitlines()[-3:]
    finally:
        nginx.__exit__()
    ok = summary["state"] == "done" and summary["total_requests"] == logged
    report = {"workers": args.workers, "seconds": args.seconds, "load": load,
              "state": summary["state"], "total_requests": summary["total_requests"],
              "completed_requests": summary["completed_requests"],
              "failed_requests": summary["failed_requests"],
              "cancelled_requests": summary["cancelled_requests"],
              "dropped_arrivals": summary["dropped_arrivals"], "errors": summary["errors"],
              "nginx_logged": logged, "exact": ok, "workers_lost": summary["workers_lost"],
              "startup_s": summary.get("startup_s"), "rss_growth_mb_from_60s": growth(rows),
              "samples": rows}
    print(f"counts: loadnb total_requests {summary['total_requests']:,} vs nginx access log "
          f"{logged:,} lines: {'EQUAL' if ok else 'NOT EQUAL'} (state {summary['state']})")
    if summary["errors"]:
        print(f"errors: {summary['errors']}; nginx's error log ends: {nginx_errors}")
    print(json.dumps(report), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
