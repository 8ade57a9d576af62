"""Numbers as people read them: the one set of number formatters of loadnb, used by every face
(the live line, the summary table, the widget, the HTML report, the CI outputs, the comparison).

The rules, each in one place:

- no value (None, NaN, an infinity, anything that is not a number) reads :data:`DASH` ("—"),
  never ``nan``;
- thousands separators (``1,250``, ``12,345.7``), and never ``-0.0``;
- a percent never shows ``100.0`` while something failed (98.97 % shows ``99.0%``, 99.97 %
  shows ``99.9%``);
- a value judged against a bound is shown with the decimals that keep it on its side of the
  bound (:func:`bounded`: 89.96 below 90 shows ``89.96``, never ``90.0``);
- axis ticks in the SI form (``950``, ``1.5k``, ``100k``, ``2.5M``): :func:`si` is the Python twin
  of the charts' JavaScript formatter, :data:`loadnb.charts.axes.TICKS_JS` (a test holds both to
  one table of values).

Imports nothing of loadnb: it is the ground floor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeGuard

#: What a missing value reads.
DASH = "—"

#: The SI suffixes of :func:`si`, largest first: thousand, million, billion, trillion.
_SI_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def is_number(value: object) -> TypeGuard[int | float]:
    """``value`` is an ``int`` or a ``float`` (not a ``bool``); NaN and infinities included."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: object) -> TypeGuard[int | float]:
    return is_number(value) and math.isfinite(value)


def _no_minus_zero(text: str) -> str:
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def fixed(value: object, digits: int = 2) -> str:
    """``value`` with thousands separators and ``digits`` decimals; :data:`DASH` for no value.

    >>> fixed(12345.678), fixed(12.5, 1), fixed(3, 0), fixed(-0.01, 1), fixed(float("nan"))
    ('12,345.68', '12.5', '3', '0.0', '—')
    """
    if not _finite(value):
        return DASH
    return _no_minus_zero(f"{value:,.{digits}f}")


def count(value: object) -> str:
    """A whole count with thousands separators (``1,250``); :data:`DASH` unless an ``int``."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else DASH


def number(value: object, digits: int = 2) -> str:
    """An ``int`` as a :func:`count`, a ``float`` :func:`fixed` to ``digits`` decimals.

    >>> number(1250), number(12.345), number(None)
    ('1,250', '12.35', '—')
    """
    return count(value) if isinstance(value, int) and not isinstance(value, bool) else fixed(
        value, digits)


def trimmed(value: object, digits: int = 3) -> str:
    """At most ``digits`` decimals, trailing zeros dropped (``0.25``, ``1,234.5``, ``5``);
    :data:`DASH` for no value."""
    if not _finite(value):
        return DASH
    text = f"{value:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _no_minus_zero(text)


def significant(value: object, digits: int = 3) -> str:
    """``digits`` significant digits (``0.000123``, ``1.23e-05``: a p-value, a tiny share);
    :data:`DASH` for no value."""
    return f"{value:.{digits}g}" if _finite(value) else DASH


def percent(rate: object, digits: int = 1, *, sep: str = "") -> str:
    """A percentage (``98.5%``; ``sep=" "``: ``98.5 %``); :data:`DASH` for no value. Never rounded
    up to 100 while below it: a success rate of 99.97 shows ``99.9%``, so a run with failures
    never reads as flawless.

    >>> percent(98.5), percent(99.97), percent(100.0), percent(None), percent(50, 2, sep=" ")
    ('98.5%', '99.9%', '100.0%', '—', '50.00 %')
    """
    if not _finite(rate):
        return DASH
    text = f"{rate:.{digits}f}"
    if rate < 100.0 and text == f"{100.0:.{digits}f}":
        text = f"{100.0 - 10.0 ** -digits:.{digits}f}"
    return f"{_no_minus_zero(text)}{sep}%"


def with_unit(text: str, unit: str) -> str:
    """``12.5 ms``: ``text`` and its unit; :data:`DASH` stays alone (no unit on no value)."""
    return text if text == DASH else f"{text} {unit}"


def ms(value: object, digits: int = 1) -> str:
    """A time in milliseconds: ``12.3 ms``; :data:`DASH` for no value."""
    return with_unit(fixed(value, digits), "ms")


def rate(value: object, digits: int = 1) -> str:
    """A throughput: ``1,234.5 req/s``; :data:`DASH` for no value."""
    return with_unit(fixed(value, digits), "req/s")


def decimals(value: float, bound: float, digits: int) -> int:
    """The decimals to show ``value`` with: ``digits``, or more when fewer would put it on the
    other side of ``bound`` or on it (89.96 below 90 needs 2, since 1 shows ``90.0``).

    >>> decimals(89.96, 90.0, 1), decimals(42.04, 90.0, 1), decimals(5.0, 5.0, 3)
    (2, 1, 3)
    """
    side = (value > bound) - (value < bound)
    for d in range(digits, 16):
        shown = round(value, d)
        if (shown > bound) - (shown < bound) == side:
            return d
    return 15


def bounded(value: float, bound: float, digits: int) -> str:
    """``value`` with thousands separators and :func:`decimals` decimals: never shown across
    ``bound`` (``bounded(89.96, 90, 1)`` is ``89.96``, not ``90.0``)."""
    return f"{value:,.{decimals(value, bound, digits)}f}"


def _to_fixed(value: float, digits: int) -> str:
    """JavaScript's ``value.toFixed(digits)``: the exact binary value rounded half away from
    zero (Python's ``format`` rounds half to even: ``2.5`` → ``2``, where JavaScript says ``3``)."""
    exact = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{exact:.{digits}f}"


def si(tick: float, ticks: Sequence[float] = ()) -> str:
    """An axis tick as people write it, the SI way: ``950``, ``1.5k``, ``100k``, ``2.5M``, ``1B``,
    ``0.05`` (never ``1.000e+5``). Up to three significant digits, more when the neighbouring
    ``ticks`` are closer than that (a zoomed axis), so neighbours never look alike; trailing zeros
    dropped. The Python twin of :data:`loadnb.charts.axes.TICKS_JS`, line for line.

    >>> [si(t, [0, 25_000, 50_000]) for t in (0, 25_000, 50_000)], si(1_500), si(0.05)
    (['0', '25k', '50k'], '1.5k', '0.05')
    """
    if not math.isfinite(tick):
        return "NaN" if math.isnan(tick) else ("Infinity" if tick > 0 else "-Infinity")
    size = abs(tick)
    if size < 1e-12:
        return "0"
    div, suffix = 1.0, ""
    for d, s in _SI_UNITS:
        if size >= d * (1 - 1e-9):
            div, suffix = d, s
            break
    gaps = [abs(b - a) for a, b in zip(ticks, ticks[1:], strict=False)]
    step = min((g for g in gaps if g > 0), default=math.inf)
    v = tick / div
    digits = max(0, 2 - math.floor(math.log10(abs(v)) + 1e-9))
    if math.isfinite(step):
        digits = max(digits, math.ceil(-math.log10(step / div) - 1e-9))
    text = _to_fixed(v, min(digits, 12))
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return ("0" if text == "-0" else text) + suffix


__all__ = ["DASH", "bounded", "count", "decimals", "fixed", "is_number", "ms", "number",
           "percent", "rate", "si", "significant", "trimmed", "with_unit"]
