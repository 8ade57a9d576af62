"""The one set of number formatters (:mod:`loadnb.text.numbers`): "—" for no value, thousands
separators, a percent that never reads 100 while something failed, values never shown across
their bound, and the SI form of the axis ticks, whose Python twin (:func:`si`) and JavaScript
(:data:`loadnb.charts.axes.TICKS_JS`, run in Chromium) agree on one table of values."""

from __future__ import annotations

import ast
import math
import random
import re
from pathlib import Path
from typing import Any

import pytest

from loadnb.charts.axes import TICKS_JS
from loadnb.text.numbers import (
    DASH,
    bounded,
    count,
    fixed,
    ms,
    number,
    percent,
    rate,
    si,
    trimmed,
    with_unit,
)
from tests.charts.test_charts_readable import CASES

ROOT = Path(__file__).resolve().parents[2]
NO_VALUE = [None, math.nan, math.inf, -math.inf, "12", True, False, [1]]


@pytest.mark.parametrize("value", NO_VALUE, ids=repr)
def test_no_value_reads_a_dash_everywhere(value: Any) -> None:
    for formatter in (fixed, trimmed, percent, ms, rate, count):
        assert formatter(value) == DASH, (formatter.__name__, value)
    assert number(value) == DASH


def test_fixed_has_thousands_separators_and_never_minus_zero() -> None:
    assert fixed(12345.678) == "12,345.68"
    assert fixed(12345.678, 1) == "12,345.7"
    assert fixed(1234567, 0) == "1,234,567"
    assert fixed(-0.04, 1) == "0.0" and fixed(-0.4, 0) == "0" and fixed(-0.06, 1) == "-0.1"


def test_count_number_trimmed_and_units() -> None:
    assert count(1250) == "1,250" and count(12.0) == DASH  # a count is whole: a float is no count
    assert number(1250) == "1,250" and number(1250.0) == "1,250.00" and number(2.345, 1) == "2.3"
    assert trimmed(0.25) == "0.25" and trimmed(1234.5) == "1,234.5" and trimmed(5) == "5"
    assert trimmed(1.0004) == "1" and trimmed(1.0004, 4) == "1.0004" and trimmed(-0.0001) == "0"
    assert ms(12.34) == "12.3 ms" and rate(1234.56) == "1,234.6 req/s" and ms(None) == DASH
    assert with_unit(DASH, "s") == DASH and with_unit("3", "s") == "3 s"


def test_percent_never_shows_100_while_something_failed() -> None:
    assert percent(98.5) == "98.5%" and percent(100.0) == "100.0%" and percent(100) == "100.0%"
    assert percent(0.0) == "0.0%" and percent(50, 2, sep=" ") == "50.00 %"
    for digits in (0, 1, 2, 3):
        full = f"{100:.{digits}f}%"
        for below in (99.95, 99.96, 99.99, 99.999, 99.9999, 100 - 1e-9):
            shown = percent(below, digits)
            assert shown != full, (below, digits, shown)
            assert float(shown.rstrip("%")) < 100.0
    assert percent(99.97) == "99.9%" and percent(99.999, 2) == "99.99%"
    assert percent(99.6, 0) == "99%"


def test_bounded_keeps_a_value_on_its_side_of_the_bound() -> None:
    assert bounded(89.96, 90.0, 1) == "89.96" and bounded(42.04, 90.0, 1) == "42.0"
    assert bounded(1.0004, 1.0, 3) == "1.0004" and bounded(12_345.6, 10.0, 1) == "12,345.6"
    rng = random.Random(7)
    for _ in range(500):
        bound = round(rng.uniform(0, 100), rng.randint(0, 2))
        value = bound + rng.choice([-1, 1]) * 10 ** -rng.uniform(1, 9)
        shown = float(bounded(value, bound, 1).replace(",", ""))
        assert (shown > bound) == (value > bound) and shown != bound, (value, bound, shown)


# -- the SI form of the axes: the Python twin of the JavaScript --------------------------------
def test_si_gives_the_labels_of_the_axes_table() -> None:
    for ticks, labels in CASES:
        assert [si(t, ticks) for t in ticks] == labels, ticks


def _tick_table() -> list[list[float]]:
    """Ticks as axes place them (evenly spaced, at every magnitude, zoomed, negative, log) and
    values whose rounding is a tie in binary and decimal (1.125, 10.25, 100.5, 1.125k: JavaScript
    rounds those half away from zero, Python's ``format`` half to even)."""
    rng = random.Random(21)
    table = [ticks for ticks, _ in CASES]
    table += [[2.5], [0.125], [1250.0], [-2.5], [0.5], [1.5], [1e-13], [999.9999], [999_999.9],
              [1.125], [1125.0], [10.25], [-10.25], [100.5], [2_500_500.0]]
    table += [[math.nan], [math.inf], [-math.inf]]
    for _ in range(120):
        step = rng.choice([1, 2, 2.5, 5]) * 10 ** rng.randint(-4, 13)
        start = rng.randint(-5, 5) * step
        table.append([start + i * step for i in range(rng.randint(2, 7))])
    for _ in range(60):
        table.append([rng.uniform(-1, 1) * 10 ** rng.uniform(-6, 14)])
    return table


@pytest.mark.browser
def test_si_and_the_axes_javascript_agree_on_one_table(browser: Any) -> None:
    table = _tick_table()
    page = browser.new_page()
    try:
        got = page.evaluate(
            """([code, table]) => {
                 const format = new Function("tick", "index", "ticks", code);
                 return table.map(ticks => ticks.map((t, i) => format(t, i, ticks)));
               }""", [TICKS_JS, table])
    finally:
        page.close()
    assert got == [[si(t, ticks) for t in ticks] for ticks in table]


# -- one set of formatters ---------------------------------------------------------------------
#: Names of functions whose job is to turn a number into text.
_FORMATTER_NAME = re.compile(r"^_?(fmt\w*|fixed|percent|count|number|num|unit|cell|observed|"
                             r"decimals|shown|trimmed)$")


def _formats_itself(fn: ast.FunctionDef) -> bool:
    """``fn`` writes a number with a format spec of its own (``f"{x:,.1f}"``)."""
    return any(isinstance(n, ast.FormattedValue) and n.format_spec is not None
               for n in ast.walk(fn))


def test_no_number_formatter_outside_text_numbers() -> None:
    """Functions named like formatters outside :mod:`loadnb.text.numbers` only delegate to it
    (a table cell escapes text and passes numbers on). The Prometheus wire format
    (``observe/``) and the standalone demo server are not display text and keep their own."""
    found, seen = [], 0
    for path in sorted((ROOT / "loadnb").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "loadnb/text/numbers.py" or rel.startswith(("loadnb/demo/", "loadnb/observe/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and _FORMATTER_NAME.match(node.name):
                seen += 1
                if _formats_itself(node):
                    found.append(f"{rel}:{node.lineno} {node.name}")
    assert seen >= 3  # the table cells of the report, the summary card and the history tab
    assert found == [], found
