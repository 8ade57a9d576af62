"""What the Dask tests share: the demo server's counters, the CLI in a subprocess, and an external
``dask scheduler`` with two ``dask worker`` processes (each in a directory of its own, none of
them on the others' ``sys.path``), always killed at the end with bounded waits.
"""

from __future__ import annotations

import json
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

VENV_BIN = Path(sys.executable).parent


def server_stats(url: str) -> dict[str, Any]:
    """The demo server's ``GET /stats`` document."""
    with urllib.request.urlopen(url + "stats", timeout=5) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def reset_stats(url: str) -> None:
    """Zero the demo server's counters (``POST /stats/reset``)."""
    req = urllib.request.Request(url + "stats/reset", method="POST")
    urllib.request.urlopen(req, timeout=5).close()


def loadnb_cli(*args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``loadnb ARGS`` in a process of its own, from ``cwd``."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([str(VENV_BIN / "loadnb"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


@pytest.fixture
def external_cluster(tmp_path: Path) -> Iterator[str]:
    """A ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, each started from a
    directory of its own under ``tmp_path``; killed at the end."""
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    file = tmp_path / "scheduler.json"
    homes = [tmp_path / name for name in ("scheduler", "worker-0", "worker-1")]
    for home in homes:
        home.mkdir()
    procs = [subprocess.Popen(
        [str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(file)], env=env, cwd=homes[0],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.monotonic() + 30
        while not file.exists() or not file.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not start"
            assert procs[0].poll() is None, "the scheduler exited"
            time.sleep(0.05)
        address = json.loads(file.read_text())["address"]
        for home in homes[1:]:
            procs.append(subprocess.Popen(
                [str(VENV_BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads",
                 "1", "--host", "127.0.0.1", "--no-dashboard"], env=env, cwd=home,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=30)
        yield address
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            proc.wait(10)
