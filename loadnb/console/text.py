"""Number and text formatting shared by the live line and the summary table ("—" for no value)."""

from __future__ import annotations

import math
from typing import Any

DASH = "—"


def _fixed(value: float, digits: int = 1) -> str:
    """``value`` with thousands separators and ``digits`` decimals; "—" when NaN or infinite."""
    if not math.isfinite(value):
        return DASH
    text = f"{value:,.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def _percent(rate: float) -> str:
    """A success rate in percent, one decimal, never rounded up to 100.0 while something failed."""
    if not math.isfinite(rate):
        return DASH
    text = f"{rate:.1f}"
    if text == "100.0" and rate < 100.0:
        text = "99.9"
    return f"{text}%"


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else DASH


def _number(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    return _fixed(float(value), digits)


def _unit(text: str, unit: str) -> str:
    return text if text == DASH else f"{text} {unit}"
