"""Instructions per request, counted by valgrind (callgrind): loadnb against the raw client.

    .venv/bin/python benchmarks/instructions.py                  # about 3 minutes
    .venv/bin/python benchmarks/instructions.py --requests 5000 --kinds raw_uvloop,closed

Each kind runs under ``valgrind --tool=callgrind`` against the benchmarks' private nginx, bounded
by a number of requests, counting only the instructions run inside uvloop's read callback (the
response read, parsed, recorded, and the next request written: a closed-model request's whole
path). Deterministic where CPU-seconds on a shared machine are not. It leaves out start-up,
the kernel (the same system calls for every client: one read and one write a request) and the
work done once per interval of time (ticks, the sweeper), which callgrind's 50-fold slowdown
would otherwise multiply per request. Kinds: ``raw_uvloop`` (the plain asyncio.Protocol client)
and ``closed`` (loadnb, 64 users, fast path). (The open model's arrivals leave from the pacer's
wake-ups, in batches whose size depends on the rate the process keeps: its cost is figure 6 of
``run_all.py``, in CPU-seconds.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the package by its name
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, Nginx, request_bytes  # noqa: E402

USERS = 64
KINDS = {
    "raw_uvloop": ("raw_uvloop", {"users": USERS}),
    "closed": ("loadnb", {"users": USERS, "transport": "fast", "interval": 60}),
}
#: The function whose instructions (its callees' included) are counted: uvloop's read callback.
ON_READ = "*uv_stream_on_read*"
_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(kind: str, url: str, requests: int) -> tuple[int, int]:
    """(instructions, requests answered) of one run of ``kind`` under callgrind."""
    child, params = KINDS[kind]
    params = {**params, "url": url, "requests": requests, "payload": request_bytes(url)}
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out",
                f"--toggle-collect={ON_READ}", sys.executable, "-m", "benchmarks.child", child,
                json.dumps(params)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("LOADNB_DEBUG", None)
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=1800, check=False)
    match = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"{kind} failed under callgrind:\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-2000:]}")
    return int(match.group(1)), int(json.loads(proc.stdout.strip().splitlines()[-1])["requests"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="per run (default 5000)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="of " + ", ".join(KINDS))
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    per: dict[str, float] = {}
    with Nginx() as nginx:
        for kind in args.kinds.split(","):
            count, answered = instructions(kind, nginx.url, args.requests)
            per[kind] = count / answered
            print(f"{kind:<11} {count / 1e6:,.1f}M instructions in the read callback for "
                  f"{answered:,} requests: {per[kind]:,.0f} per request", flush=True)
    raw = per.get("raw_uvloop")
    for kind, value in per.items():
        if raw and kind != "raw_uvloop":
            print(f"{kind}/raw_uvloop: {value / raw:.2f}x the instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
