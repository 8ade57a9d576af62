"""``loadnb run``'s start-up CPU (issue 25): ``startup_cpu_s`` in its JSON summary counts from the
process's start, so the interpreter's start-up and every import before the run are in it, and it
is no more than the whole process's CPU (a real run against the demo server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """
import sys, time
from loadnb.cli import main
before = time.process_time()  # the interpreter and the imports so far
try:
    code = main(["run", sys.argv[1], "-n", "20", "-u", "2", "--history", "off", "--json",
                 "--quiet"])
except SystemExit as exc:
    code = exc.code
print(code, before, file=sys.stderr)
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_loadnb_run_counts_its_start_up_cpu_from_the_process_start(demo_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOADNB_HISTORY": "off"}
    at_start = children_cpu()
    done = subprocess.run([sys.executable, "-c", PROGRAM, demo_url], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    whole = children_cpu() - at_start  # the process's CPU, start to exit
    code, before_main = done.stderr.split()[-2:]
    summary = json.loads(done.stdout)
    assert code == "0" and summary["completed_requests"] == 20, done.stderr
    startup = summary["startup_cpu_s"]
    assert isinstance(startup, float), startup
    assert round(float(before_main), 3) <= startup <= whole, (before_main, startup, whole)
