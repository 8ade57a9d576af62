"""One palette (:mod:`loadnb.charts.palette`): the series colours are Bokeh's ``Category10``, and
no module but the palette writes a colour of its own (a hex colour or a colour's name in a string
of code: the widget, the dashboard, the report, the studies' and the comparison's charts, the
badge all take theirs from it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bokeh.palettes import Category10_10

from loadnb.charts import palette
from loadnb.results.words import STATES

ROOT = Path(__file__).resolve().parents[2]
_COLOUR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?\b|^(?:black|white|green|gray|grey|red|"
                     r"blue|orange)$")


def test_the_series_are_category10_and_cycle() -> None:
    assert palette.SERIES == tuple(Category10_10)
    assert [palette.series(i) for i in (0, 9, 10, 13)] == [
        Category10_10[0], Category10_10[9], Category10_10[0], Category10_10[3]]


def test_the_state_colours_come_from_the_palette() -> None:
    assert STATES["failed"].colour == palette.ERROR and STATES["done"].colour == palette.OK
    assert {w.colour for w in STATES.values()} <= {
        v for v in vars(palette).values() if isinstance(v, str)}


def _docstrings(tree: ast.Module) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def test_no_colour_outside_the_palette() -> None:
    found = []
    for path in sorted((ROOT / "loadnb").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "loadnb/charts/palette.py" or rel.startswith("loadnb/demo/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docs and _COLOUR.search(node.value)):
                found.append(f"{rel}:{node.lineno} {node.value[:40]!r}")
    assert found == [], found
