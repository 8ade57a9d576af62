"""Times as people write them: ``30``, ``"30s"``, ``"500ms"``, ``"2m"``, ``"1h"`` → seconds.

One parser for every duration loadnb reads (run length, ramps, timeouts, threshold bounds).
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


#: The units a time may have (``500ms``, ``2m``, ``1h``), in seconds each.
TIME_UNITS = _UNITS


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h)?\s*$")


def parse_duration(value: str | float | int, what: str = "duration") -> float:
    """Seconds from ``30``, ``1.5``, ``"30s"``, ``"500ms"``, ``"2m"`` or ``"1h"``.

    >>> parse_duration("2m")
    120.0
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number of seconds or like '30s', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value.lower())
        if match is None and _DURATION_RE.match(value.lower().strip().removeprefix("-")):
            raise ValueError(f"{what} must be >= 0, got {value!r}")
        if match is None:
            raise ValueError(
                f"{what} must be a number of seconds or like '30s', '500ms', '2m', got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError(f"{what} must be a number of seconds or like '30s', got {value!r}")
    if seconds < 0:
        raise ValueError(f"{what} must be >= 0, got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"{what} must be a finite, non-negative time, got {value!r}")
    return seconds


__all__ = ["TIME_UNITS", "parse_duration"]
