"""The dashboard's Server tab: the target's scraped or watched series (``scrape=``,
``watch_pid=``), one small chart per series, as the Custom tab draws custom metrics.

The tab appears with the run's first server value and goes when a new run starts. Rows come
with each update (:attr:`~loadnb.record.update.Update.server_rows`: ``elapsed_time, series,
value``; counters are per-second rates, gauges as read).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..metrics.custom import CUSTOM_TIMELINE_COLUMNS
from .custom import CustomTab

__all__ = ["SERVER_TAB", "ServerTab"]

SERVER_TAB = "Server"
_WIDTH = len(CUSTOM_TIMELINE_COLUMNS)
_AT = {c: i for i, c in enumerate(CUSTOM_TIMELINE_COLUMNS)}


class ServerTab(CustomTab):
    """The Server tab (see the module docstring)."""

    title = SERVER_TAB
    what, where = "server series", "result.server"

    def chart_title(self, name: str, kind: str) -> str:
        return name

    def add_server(self, rows: Iterable[tuple[float, str, float]]) -> None:
        """The target's values written at the last tick: one point per row on its chart."""
        shaped = []
        for elapsed, series, value in rows:
            row: list[object] = [math.nan] * _WIDTH
            row[_AT["elapsed_time"]], row[_AT["metric"]] = elapsed, series
            row[_AT["kind"]], row[_AT["last"]] = "gauge", value
            shaped.append(row)
        self.add(shaped)
