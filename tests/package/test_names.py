"""Names say one thing and travel only where they may: private names (a leading underscore) stay
in their package, dotted ``loadnb.…`` references in the docs lead somewhere, and a public name
means one thing across the packages."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import types
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


REF = re.compile(r"(?<![\w.])loadnb(?:\.[A-Za-z_]\w*)+")
#: File names in the docs' examples (``--junit loadnb.xml``), not Python.
FILE_NAMES = {"loadnb.xml", "loadnb.md", "loadnb.json"}


def _emitted_names() -> set[str]:
    """Dotted names the code itself writes out (OTLP metric and attribute names such as
    ``loadnb.requests``): string literals of the source, not references to Python."""
    return {node.value for path in SOURCES for node in ast.walk(ast.parse(path.read_text("utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and REF.fullmatch(node.value)}


def _has(owner: object, name: str) -> bool:
    """Whether ``owner.name`` exists: an attribute, or a field or slot of a class."""
    if hasattr(owner, name):
        return True
    return inspect.isclass(owner) and any(
        name in getattr(c, "__annotations__", {}) or name in (getattr(c, "__slots__", ()) or ())
        for c in owner.__mro__)


def resolve(ref: str) -> str | None:
    """Why ``ref`` (``loadnb.spec.config.LoadSpec``) leads nowhere; None when it resolves to a
    module of this tree or to an attribute of one, a class or function in the module defining it."""
    parts = ref.split(".")
    for i in range(len(parts), 0, -1):
        where = ROOT.joinpath(*parts[1:i])
        if where.with_suffix(".py").is_file() or (where / "__init__.py").is_file():
            break
    else:  # pragma: no cover - "loadnb" itself is always a module
        return "no module"
    if parts[i - 1] == "__main__":
        return None if i == len(parts) else "inside __main__"
    owner: object = importlib.import_module(".".join(parts[:i]))
    for name in parts[i:]:
        if not _has(owner, name):
            return f"{'.'.join(parts[:parts.index(name)])} has no {name}"
        if not hasattr(owner, name):
            return None  # a field of a class
        parent, owner = owner, getattr(owner, name)
        if (isinstance(parent, types.ModuleType) and not hasattr(parent, "__path__")
                and (inspect.isclass(owner) or inspect.isfunction(owner))
                and owner.__module__ != parent.__name__):
            return f"{name} is defined in {owner.__module__}"
    return None


def stale_references(texts: dict[str, str]) -> list[str]:
    allowed = FILE_NAMES | _emitted_names()
    return [f"{where}:{n}: {ref} ({why})" for where, text in texts.items()
            for n, line in enumerate(text.splitlines(), 1) for ref in REF.findall(line)
            if ref not in allowed and (why := resolve(ref)) is not None]


def test_dotted_references_lead_somewhere() -> None:
    """Every ``loadnb.…`` in the package's docstrings and comments and in the two docs names a
    module of this tree or something in it (the paths from before the packages are gone)."""
    texts = {str(p.relative_to(ROOT.parent)): p.read_text("utf-8") for p in SOURCES}
    for doc in ("README.md", "ARCHITECTURE.md"):
        texts[doc] = (ROOT.parent / doc).read_text("utf-8")
    assert stale_references(texts) == []


def test_stale_references_are_caught() -> None:
    text = ("See :mod:`loadnb.config` and :class:`~loadnb.rules.alerts.AlertRule`; fine: "
            ":class:`loadnb.rules.alert_engine.AlertRule`, ``loadnb.history()``.")
    assert stale_references({"x": text}) == [
        "x:1: loadnb.config (loadnb has no config)",
        "x:1: loadnb.rules.alerts.AlertRule (AlertRule is defined in loadnb.rules.alert_engine)"]


#: Public names defined in more than one module on purpose: each command module of the CLI
#: offers ``add_parser`` and ``run``; the ``loadnb.history`` package offers its modules' verbs
#: with default paths; the rest (each its own thing in its own layer) are left for a later pass.
#: ``Plan``, ``RunView`` and ``sweep`` meant two things and must not come back.
DEFINED_TWICE = {
    "add_parser": 6, "run": 7,  # one per CLI command, and loadnb.run
    "compare": 2, "delete": 2, "load": 2, "note": 2, "prune": 2, "tag": 2,  # loadnb.history
    "main": 2,  # the loadnb command, the demo server's
    "serve": 2,  # the app (Voila), the demo server
    "render": 4, "encode": 2, "check_url": 2, "default_path": 2, "Owner": 2,
}


def defined_in(paths: list[Path]) -> dict[str, list[str]]:
    """Each public top-level class or function name: the modules defining it."""
    found: dict[str, list[str]] = {}
    for path in paths:
        for node in ast.parse(path.read_text("utf-8")).body:
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and not node.name.startswith("_")):
                found.setdefault(node.name, []).append(_module(path))
    return found


def test_a_public_name_means_one_thing() -> None:
    twice = {name: len(mods) for name, mods in defined_in(SOURCES).items() if len(mods) > 1}
    assert twice == DEFINED_TWICE
