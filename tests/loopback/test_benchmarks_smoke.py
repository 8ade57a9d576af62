"""The benchmarks stay runnable: ``benchmarks/run_all.py --smoke`` exits 0 and prints every row.

The smoke mode measures nothing worth reading (one repetition of about a second each, no memory
figure); it only keeps the benchmark code from rotting as the core changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.pinning import can_pin
from benchmarks.run_all import FIGURES

ROOT = Path(__file__).resolve().parents[2]
SBIN = os.pathsep.join(("/usr/local/sbin", "/usr/sbin", "/sbin"))


def _missing() -> list[str]:
    path = os.environ.get("PATH", "") + os.pathsep + SBIN
    return [tool for tool in ("nginx", "wrk", "taskset") if shutil.which(tool, path=path) is None]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_run_all_smoke() -> None:
    missing = _missing()
    if missing:
        pytest.skip(f"the benchmarks need {', '.join(missing)} (make sysdeps installs nginx and "
                    "wrk; taskset is in util-linux)")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--smoke"],
                          cwd=ROOT, capture_output=True, text=True, timeout=280)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    _, sep, table = proc.stdout.partition("\nfigure ")
    assert sep, f"no final table:\n{output[-5000:]}"
    lines = table.splitlines()
    for figure in FIGURES:
        row = [line for line in lines if line.startswith(figure + " ")]
        assert row, f"row {figure!r} missing from the table:\n{table}"
        assert "CRASHED" not in row[0], table


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_send_lag_prints_where_the_late_arrivals_fall() -> None:
    missing = _missing()
    if missing:
        pytest.skip(f"the benchmark needs {', '.join(missing)}")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "send_lag.py"), "--rate",
                           "400", "--seconds", "0.5", "--reps", "1", "--connections", "4"],
                          cwd=ROOT, capture_output=True, text=True, timeout=100)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("run 1: 400/s on 4 connections: 200 sent"), line
    twentieths = json.loads(line.rsplit(": ", 1)[1])
    late = int(line.split(" ms; ", 1)[1].split(" later", 1)[0].replace(",", ""))
    assert len(twentieths) == 20 and sum(twentieths) == late, line


@pytest.mark.parametrize("kind", ["raw", "closed", "closed-new", "open", "open-queued",
                                  "open-paced"])
def test_every_hot_path_kind_runs(kind: str) -> None:
    """``benchmarks/hotpath.py`` drives the engine's parts by hand (no socket, no valgrind here):
    each kind must still run as the parts change."""
    from benchmarks.hotpath import KINDS

    assert kind in KINDS
    proc = subprocess.run([sys.executable, "-m", "benchmarks.hotpath", "--child", kind, "200"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.strip().splitlines()[-1]) > 0  # nanoseconds a request


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_recovery_holds_both_clients_and_prints_the_ratio() -> None:
    """``benchmarks/recovery.py``: both clients' loops are held (each run's slowest send waited
    for a 5 ms stall), and the ratio of the rates they caught up at is printed; on the cores
    ``--cores`` names (swapped here: the generators on core 1, nginx on core 0)."""
    missing = _missing()
    if missing:
        pytest.skip(f"the benchmark needs {', '.join(missing)}")
    swapped = ["--cores", "1,0"] if can_pin() else []
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recovery.py"), "--reps",
                           "1", "--fraction", "0.05", *swapped],
                          cwd=ROOT, capture_output=True, text=True, timeout=100)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    if swapped:
        assert "generator pinned to core 1, nginx to core 0" in proc.stdout.splitlines()[0]
    runs = [line for line in proc.stdout.splitlines() if line.startswith("  run 1 ")]
    assert len(runs) == 2, output
    for line in runs:
        slowest = float(line.split(" max ", 1)[1].split(" ms", 1)[0])
        assert slowest >= 4.0, line
        assert len(line.rsplit(") ", 1)[1].split()) == 5, line  # a catch-up per stall
    assert proc.stdout.strip().splitlines()[-1].startswith("caught up at, loadnb / raw: ")
