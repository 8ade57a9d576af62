"""Names say one thing and travel only where they may: private names (a leading underscore) stay
in their package, dotted ``loadnb.…`` references in the docs lead somewhere, and a public name
means one thing across the packages."""

from __future__ import annotations

import ast
from pathlib import Path

import loadnb

ROOT = Path(loadnb.__file__).parent
SOURCES = sorted(ROOT.rglob("*.py"))


def _module(path: Path) -> str:
    parts = ["loadnb", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str:
    """The package a module belongs to: ``loadnb.spec`` for ``loadnb.spec.config``; the root's
    modules (``loadnb``, ``loadnb.__main__``, ``loadnb._version``) belong to ``loadnb``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and (ROOT / parts[1]).is_dir() else "loadnb"


def _imports(path: Path, module: str) -> list[tuple[int, str, ast.alias]]:
    """Every ``from … import`` of loadnb in ``path`` (module ``module``): line, the module
    imported from, the name."""
    base = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")[:len(base.split(".")) - node.level + 1]
                source = ".".join(parts + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source == "loadnb" or source.startswith("loadnb."):
                found += [(node.lineno, source, alias) for alias in node.names]
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports_across_packages(path: Path, module: str) -> list[str]:
    """``from X import _y`` in ``path`` where X is in another package than ``module``."""
    return [f"{module}:{line}: from {source} import {alias.name}"
            for line, source, alias in _imports(path, module)
            if _private(alias.name) and _package(source) != _package(module)]


def test_private_names_stay_in_their_package() -> None:
    assert [bad for p in SOURCES for bad in private_imports_across_packages(p, _module(p))] == []


def test_no_private_name_is_re_exported() -> None:
    """``from .live import _fit as _fit`` offers a private name under a public path."""
    bad = [f"{_module(p)}:{line}: {alias.name}" for p in SOURCES
           for line, _, alias in _imports(p, _module(p))
           if _private(alias.name) and alias.asname == alias.name]
    assert bad == []


def test_a_planted_cross_package_import_fails(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("from ..runner.run import _helper\nfrom .capacity import _step\n")
    assert private_imports_across_packages(planted, "loadnb.studies.planted") == [
        "loadnb.studies.planted:1: from loadnb.runner.run import _helper"]
