"""The scale-out benchmarks of issue 24 stay runnable (a few seconds each, figures not read):
``benchmarks/soak_workers.py`` counts exactly what nginx logged and samples both workers' RSS;
``benchmarks/kernel.py`` runs all three ways from a real Jupyter kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nginx import find_nginx

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """The JSON line a benchmark printed last (the test fails with its output otherwise)."""
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    report: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(autouse=True)
def _needs_nginx() -> None:
    if find_nginx() is None:
        pytest.skip("nginx is not installed (make sysdeps)")


def test_soak_workers_counts_exactly_and_samples_each_worker() -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/soak_workers.py", "--seconds", "4", "--every", "2",
         "--rate", "300"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    report = last_json(proc)
    assert report["exact"] is True and report["state"] == "done", report
    logged = report["nginx_logged"]
    assert isinstance(logged, int) and report["total_requests"] == logged > 600, report
    samples = report["samples"]
    assert isinstance(samples, list) and len(samples) >= 3, samples
    assert [s["t_s"] for s in samples] == sorted(s["t_s"] for s in samples), samples
    assert any(len(s["workers_mb"]) == 2 for s in samples), samples  # both Dask workers
    assert "EQUAL" in proc.stdout


def test_kernel_benchmark_runs_all_three_from_a_real_kernel() -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/kernel.py", "--reps", "1", "--seconds", "1", "--users", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    report = last_json(proc)
    rps = report["rps"]
    assert isinstance(rps, dict) and sorted(rps) == ["CLI", "in-kernel", "workers=1"], report
    assert all(len(v) == 1 and v[0] > 0 for v in rps.values()), report
    assert "asyncio" in str(report["kernel_loop"])
