"""``loadnb run``'s start-up (issue 25): ``startup_cpu_s`` and ``startup_s`` in its JSON summary
count from the process's start, so the interpreter's start-up and every import before the run are
in them, and they are no more than the whole process's CPU and time (a real run against the demo
server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """
import sys, time
begun = time.monotonic()
from loadnb.cli import main
before = time.process_time()  # the interpreter and the imports so far
imported = time.monotonic() - begun  # the imports' time, no more than the start-up's
try:
    code = main(["run", sys.argv[1], "-n", "20", "-u", "2", "--history", "off", "--json",
                 "--quiet"])
except SystemExit as exc:
    code = exc.code
print(code, before, imported, file=sys.stderr)
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_loadnb_run_counts_its_start_up_from_the_process_start(demo_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOADNB_HISTORY": "off"}
    at_start, started = children_cpu(), time.monotonic()
    done = subprocess.run([sys.executable, "-c", PROGRAM, demo_url], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    # the process's CPU and time, start to exit (the time: and a little more)
    whole_cpu, whole = children_cpu() - at_start, time.monotonic() - started
    code, before_main, imported = done.stderr.split()[-3:]
    summary = json.loads(done.stdout)
    assert code == "0" and summary["completed_requests"] == 20, done.stderr
    cpu, wall = summary["startup_cpu_s"], summary["startup_s"]
    assert isinstance(cpu, float) and isinstance(wall, float), (cpu, wall)
    assert round(float(before_main), 3) <= cpu <= whole_cpu, (before_main, cpu, whole_cpu)
    assert round(float(imported), 3) <= wall <= whole, (imported, wall, whole)
