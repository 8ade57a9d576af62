"""The import contracts `make lint` checks (pyproject.toml, [tool.importlinter]) hold, and they
catch what they are for: a planted import cycle, an upward import between two layers, the engine
importing a face or pandas each fail the check on a copy of the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(tmp_path: Path, plant: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on a copy of the package with ``plant`` lines appended to modules."""
    shutil.copytree(ROOT / "loadnb", tmp_path / "loadnb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line in (plant or {}).items():
        path = tmp_path / "loadnb" / module
        path.write_text(path.read_text() + f"\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=120)


@pytest.fixture(autouse=True)
def _needs_lint_imports() -> None:
    if not LINT.exists():
        pytest.skip("import-linter is not installed (pip install loadnb[test])")


def test_the_package_keeps_its_contracts(tmp_path: Path) -> None:
    done = lint(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def test_a_planted_cycle_fails(tmp_path: Path) -> None:
    done = lint(tmp_path, {"metrics/stats.py": "from ..runner import run as _planted  # noqa"})
    assert done.returncode == 1
    assert "No import cycles" in done.stdout.split("Broken contracts")[1]


@pytest.mark.parametrize(("module", "line", "shown"), [
    ("record/record.py", "from ..results import frame as _planted  # noqa",
     "loadnb.record is not allowed to import loadnb.results"),
    ("engine/generator.py", "from ..ui import formatting as _planted  # noqa",
     "loadnb.engine is not allowed to import loadnb.ui"),
    ("metrics/stats.py", "from ..rules import alerts as _planted  # noqa",
     "loadnb.metrics is not allowed to import loadnb.rules"),
])
def test_an_upward_import_between_layers_fails(tmp_path: Path, module: str, line: str,
                                              shown: str) -> None:
    done = lint(tmp_path, {module: line})
    assert done.returncode == 1
    broken = done.stdout.split("Broken contracts")[1]
    assert "Layers: each package imports only the packages below it" in broken
    assert shown in broken


def test_two_independent_layers_importing_each_other_fails(tmp_path: Path) -> None:
    done = lint(tmp_path, {"console/summary.py": "from ..ui import formatting as _planted  # noqa"})
    assert done.returncode == 1
    assert "loadnb.console is not allowed to import loadnb.ui" in done.stdout


def test_the_core_importing_pandas_fails(tmp_path: Path) -> None:
    done = lint(tmp_path, {"runner/monitor.py": "import pandas as _planted  # noqa"})
    assert done.returncode == 1
    assert "loadnb.runner is not allowed to import pandas" in done.stdout
    assert "loadnb.runner.monitor -> pandas" in done.stdout


def test_observe_importing_the_metrics_fails(tmp_path: Path) -> None:
    done = lint(tmp_path, {"observe/feed.py": "from .. import metrics as _planted  # noqa"})
    assert done.returncode == 1
    broken = done.stdout.split("Broken contracts")[1]
    assert "observe imports nothing of loadnb" in broken
    assert "loadnb.observe.feed -> loadnb.metrics" in broken
