"""Values as strict JSON data (NaN and infinities as null, keys as text, numpy scalars as Python
numbers): what every summary, export, history row and CI output is written as."""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON data: NaN and infinities as None, keys as text, numpy scalars as
    Python numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # a numpy scalar
        return json_safe(value.item())
    return value


__all__ = ["json_safe"]
