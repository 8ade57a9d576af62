"""observe/ imports nothing of loadnb but redact and _version (an allow-list, so a module added
to loadnb later is covered too; pyproject's import contract says the same as a deny-list)."""

from __future__ import annotations

import ast
from pathlib import Path

OBSERVE = Path(__file__).resolve().parents[2] / "loadnb" / "observe"
ALLOWED = {"loadnb.text.redact", "loadnb._version"}


def _imports(path: Path) -> set[str]:
    """The absolute names of the loadnb modules ``path`` imports (relative imports resolved)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("loadnb")}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if (node.module or "").startswith("loadnb"):
                    out.add(node.module or "")
            else:
                base = ".".join(["loadnb", "observe"][: 3 - node.level])
                if node.module:
                    out.add(f"{base}.{node.module}")
                else:  # from .. import x
                    out |= {f"{base}.{a.name}" for a in node.names}
    return out


def test_observe_imports_only_redact_and_version_of_loadnb() -> None:
    for path in sorted(OBSERVE.glob("*.py")):
        for name in _imports(path):
            assert name in ALLOWED or name.startswith("loadnb.observe"), (path.name, name)
