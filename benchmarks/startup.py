"""Start-up of ``loadnb run``: wall time and CPU from the process's start to the first request.

    .venv/bin/python benchmarks/startup.py                      # this tree, 7 runs
    .venv/bin/python benchmarks/startup.py --before /tmp/old    # and another tree, interleaved

A loopback server in this process answers ``loadnb run URL -n 1 --history off`` (``python -m
loadnb.cli``, ``PYTHONPATH`` the tree); when the first request's bytes arrive it notes the time
since the child was spawned and the child's CPU so far (``/proc/PID/stat``, utime + stime: 10 ms
steps). Beside it, the run's own figures: ``startup_s`` and ``startup_cpu_s`` of its ``--json``
summary (the time and the CPU, ``time.process_time()``, from the process's start to its load's
start; "—" for a tree without them).
Compile both trees first (``python -m compileall -q TREE/loadnb``): under
``PYTHONDONTWRITEBYTECODE`` a tree without its ``.pyc`` pays its compile in every run. Every figure
is a median; with ``--before`` the runs alternate between the trees (so a
shared machine's drifts hit both) and the ratios after / before are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
HERE = str(Path(__file__).resolve().parent.parent)  # this tree
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


Run = tuple[float, float, float, float | None, float | None]


async def one(tree: str) -> Run:
    """One ``loadnb run``: (seconds to the first request, the child's CPU seconds by then, its
    CPU seconds in all, to its exit after the summary, its summary's ``startup_cpu_s`` and
    ``startup_s``)."""
    first: asyncio.Future[tuple[float, float]] = asyncio.get_running_loop().create_future()
    child: list[asyncio.subprocess.Process] = []
    spawned = 0.0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            if not first.done():
                first.set_result((time.perf_counter() - spawned, cpu_of(child[0].pid)))
            writer.write(ANSWER)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = {**os.environ, "PYTHONPATH": tree, "LOADNB_HISTORY": "off"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawned = time.perf_counter()
    child.append(await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadnb.cli", "run", f"http://127.0.0.1:{port}/", "-n", "1",
        "--history", "off", "--json", env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, cwd=tree))  # -m puts the cwd first on the path: the tree
    wall, cpu = await asyncio.wait_for(first, 60)
    out, _ = await asyncio.wait_for(child[0].communicate(), 60)
    server.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # (one child at a time: its own)
    summary = json.loads(out)
    return (wall, cpu, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            summary.get("startup_cpu_s"), summary.get("startup_s"))


def report(name: str, runs: list[Run]) -> tuple[float, float, float]:
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    total = statistics.median(r[2] for r in runs)
    print(f"{name}: to the first request {wall:.3f} s wall (runs {min(r[0] for r in runs):.3f}-"
          f"{max(r[0] for r in runs):.3f}), {cpu:.2f} s CPU (runs {min(r[1] for r in runs):.2f}-"
          f"{max(r[1] for r in runs):.2f}); the whole command {total:.2f} s CPU (runs "
          f"{min(r[2] for r in runs):.2f}-{max(r[2] for r in runs):.2f})")
    for key, at in (("startup_s", 4), ("startup_cpu_s", 3)):
        own = [r[at] for r in runs if r[at] is not None]
        print(f"  its summary's {key} (to the load's start): " + (
            f"{statistics.median(own):.3f} s (runs {min(own):.3f}-{max(own):.3f})" if own
            else "—"))
    return wall, cpu, total


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="another tree to compare with (its PYTHONPATH)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    here = HERE
    trees = {"after": here} if args.before is None else {"before": args.before, "after": here}
    runs: dict[str, list[Run]] = {name: [] for name in trees}
    for _ in range(args.runs):
        for name, tree in trees.items():
            runs[name].append(await one(tree))
    got = {name: report(f"{name} ({trees[name]})", r) for name, r in runs.items()}
    if args.before is not None:
        (bw, bc, bt), (aw, ac, at) = got["before"], got["after"]
        print(f"after / before: to the first request wall {aw / bw:.2f}x, CPU {ac / bc:.2f}x; "
              f"the whole command's CPU {at / bt:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
