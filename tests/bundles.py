"""Reading a BokehModel ``render_bundle`` (what the page gets, and what a saved notebook keeps)."""

from __future__ import annotations

import json
from typing import Any


def source_column(render_bundle: Any, column: str) -> list[Any] | dict[str, Any] | None:
    """The values of ``column`` in the bundle's source that has it (None if none has): a list,
    or an encoded array (a dict with ``array``). ``render_bundle`` may be JSON text."""
    stack: list[Any] = [json.loads(render_bundle) if isinstance(render_bundle, str)
                        else render_bundle]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("name") == "ColumnDataSource":
                entries = dict(item["attributes"]["data"]["entries"])
                if column in entries:
                    values: list[Any] | dict[str, Any] = entries[column]
                    return values
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None


def source_rows(render_bundle: Any, column: str) -> int:
    """Rows of the bundle's source that has ``column``; fails the test if none has."""
    values = source_column(render_bundle, column)
    if values is None:
        raise AssertionError(f"no source with {column!r} in the chart")
    return len(values if isinstance(values, list) else values["array"])
