"""Every module of loadnb says what it offers in ``__all__`` (anyio's tests/test_all_attributes.py
is the model), and offers only what it defines: no re-export keeps an old path alive.

Packages (``__init__.py``) may offer what their modules define: that is what a package is for.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

import loadnb

ROOT = Path(loadnb.__file__).parent


def _module_names() -> list[str]:
    """Every module and package of loadnb, found by walking the package (imports the packages)."""
    found = ["loadnb"] + [info.name for info in pkgutil.walk_packages(
        loadnb.__path__, "loadnb.", onerror=lambda name: pytest.fail(f"cannot import {name}"))]
    return sorted(found)


MODULES = _module_names()


def _path(name: str) -> Path:
    parts = name.split(".")[1:]
    package = ROOT.joinpath(*parts)
    return package / "__init__.py" if package.is_dir() else package.with_suffix(".py")


def _tree(name: str) -> ast.Module:
    return ast.parse(_path(name).read_text(encoding="utf-8"))


def _declared_all(name: str) -> list[str] | None:
    """``__all__`` as written in the module's source (read, not imported: ``__main__`` runs)."""
    for node in _tree(name).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert node.value is not None
            value = ast.literal_eval(node.value)
            assert isinstance(value, list), f"{name}.__all__ is not a list"
            return value
    return None


def _top_level(nodes: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run at import: the module's body, into ``if``/``try`` blocks, not into
    ``if TYPE_CHECKING:`` (names bound there are for the type checker only)."""
    out: list[ast.stmt] = []
    for node in nodes:
        if isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id.endswith("TYPE_CHECKING")
                    or isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"):
                out += _top_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            out += _top_level(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                out += _top_level(handler.body)
        else:
            out.append(node)
    return out


def _defined(name: str) -> set[str]:
    """The names the module itself binds at its top level (def, class, assignment), not imports."""
    bound: set[str] = set()
    for node in _top_level(_tree(name).body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                bound |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.TypeAlias if sys.version_info >= (3, 12) else ()):
            bound.add(node.name.id)
    return bound


def _public_defs(name: str) -> list[str]:
    return [node.name for node in _top_level(_tree(name).body)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and not node.name.startswith("_")]


def test_every_module_is_found() -> None:
    files = {p for p in ROOT.rglob("*.py")}
    assert files == {_path(name) for name in MODULES}


@pytest.mark.parametrize("name", MODULES)
def test_module_has_all(name: str) -> None:
    declared = _declared_all(name)
    assert declared is not None, f"{name} has no __all__"
    assert len(declared) == len(set(declared)), f"{name}.__all__ lists a name twice"
    if name.rsplit(".", 1)[-1] == "__main__":  # importing it runs the command
        assert set(declared) <= _defined(name)
        return
    module = importlib.import_module(name)
    assert module.__all__ == declared
    missing = [attr for attr in declared if not hasattr(module, attr)]
    assert not missing, f"{name}.__all__ lists names it does not have: {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_public_definitions_are_in_all(name: str) -> None:
    """A top-level def or class without a leading underscore is offered; else it is private."""
    declared = set(_declared_all(name) or [])
    unlisted = [attr for attr in _public_defs(name) if attr not in declared]
    assert not unlisted, f"{name} defines public names missing from __all__: {unlisted}"


@pytest.mark.parametrize("name", [n for n in MODULES if _path(n).name != "__init__.py"])
def test_modules_offer_only_what_they_define(name: str) -> None:
    """No re-exports from plain modules: the importer imports a name from the module owning it."""
    borrowed = [attr for attr in _declared_all(name) or [] if attr not in _defined(name)]
    assert not borrowed, f"{name}.__all__ re-exports names defined elsewhere: {borrowed}"


def test_the_checks_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A planted module with an unlisted public def, a re-export and no private names fails."""
    fake = tmp_path / "planted.py"
    fake.write_text("from os import sep\n\ndef shown(): ...\n\n__all__ = ['sep']\n")
    monkeypatch.setattr(sys.modules[__name__], "_path", lambda name: fake)
    assert _public_defs("x") == ["shown"]
    assert "shown" not in (_declared_all("x") or [])
    assert _defined("x") == {"shown", "__all__"}

