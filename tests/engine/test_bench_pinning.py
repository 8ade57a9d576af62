"""The benchmarks' ``--cores G,S``: the cores every generator and nginx are pinned to (cores kept
free of other work measure the code, not the neighbours); a bad value is one usage error."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import pinning
from benchmarks.pinning import CORES, add_pinning_options, apply_pinning_options, pinned

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    before = (CORES.generator, CORES.server)
    yield
    CORES.generator, CORES.server = before


def _apply(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    add_pinning_options(parser)
    apply_pinning_options(parser, parser.parse_args(list(argv)))


def test_cores_pin_the_generators_and_nginx_where_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(pinning, "find_tool", lambda name: f"/usr/bin/{name}")
    _apply("--cores", "3,2")
    assert (CORES.generator, CORES.server) == (3, 2)
    assert pinned(CORES.generator, ["wrk"])[:3] == ["/usr/bin/taskset", "-c", "3"]
    assert "generator pinned to core 3, nginx to core 2" in pinning.pinning_note()


def test_without_cores_the_generator_gets_core_0_and_nginx_core_1() -> None:
    _apply()
    assert (CORES.generator, CORES.server) == (0, 1)


@pytest.mark.parametrize("cores", ["0,0", "1", "a,b", "0,999"])
def test_bad_cores_are_one_usage_error_before_anything_runs(cores: str) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"),
                           "--only", "6", "--cores", cores], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("run_all.py: error: --cores")
    assert "Traceback" not in proc.stderr and proc.stdout == ""  # nothing started
