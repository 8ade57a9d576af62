"""The one palette of loadnb: the colours of every chart and face (the widget and its dashboard,
the HTML report, the capacity, sweep and comparison charts, the state badge, the messages).

- :data:`SERIES`: one colour per series or per run, in order (the ten of Bokeh's and d3's
  ``Category10``; a test holds them equal); :func:`series` cycles through them.
- The levels of a message or a verdict, dark enough to read as text on white: :data:`INFO`,
  :data:`OK` (done, passed), :data:`WARNING` (stopping, stopped, an alert), :data:`ERROR`
  (failed), :data:`NEUTRAL` (idle), :data:`ACTIVE` (running), :data:`MUTED` (pending, notes).
- The page itself: :data:`PAPER`, :data:`ON_COLOUR` and the report's greys (``PAGE_*``).
- What the charts draw beside the measured series: :data:`PLAN` (the planned load, dashed),
  :data:`MARKER` (a live change), :data:`COMPARE` (a past run overlaid), :data:`BOUND` (an SLO
  bound), :data:`KNEE` (the capacity found), :data:`FIT` (a model's curve).

Plain CSS colour strings; imports nothing.
"""

from __future__ import annotations

#: One colour per series or run, in order (Bokeh's and d3's ``Category10``).
SERIES: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                           "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

INFO = "#1f4e79"
OK = "#1b5e20"
WARNING = "#8a5300"
ERROR = "#b00020"
NEUTRAL = "#546e7a"
ACTIVE = "#1565c0"
MUTED = "#555555"
#: The background and edge of the alert area (its text is :data:`WARNING`).
WARNING_BACKGROUND = "#fff8e1"
WARNING_EDGE = "#f0a000"
#: Row backgrounds of a comparison table.
REGRESSION_BACKGROUND = "#f8d7da"
IMPROVEMENT_BACKGROUND = "#d4edda"

#: The page: hollow markers and bar edges (:data:`PAPER`), text on a coloured badge
#: (:data:`ON_COLOUR`), and the HTML report's text, rules, table heads and notes.
PAPER = "white"
ON_COLOUR = "#fff"
PAGE_TEXT = "#222"
PAGE_RULE = "#ddd"
PAGE_HEAD = "#f4f4f4"
PAGE_NOTE = "#666"

PLAN = "#7f7f7f"
MARKER = "#8e24aa"
COMPARE = "#8d99ae"
BOUND = "black"
KNEE = "green"
FIT = "gray"

#: A message's colour by its level (the widget's status line, the capacity panel).
LEVELS: dict[str, str] = {"info": INFO, "ok": OK, "warning": WARNING, "error": ERROR}


def series(i: int) -> str:
    """The ``i``-th series colour (cycling through :data:`SERIES`)."""
    return SERIES[i % len(SERIES)]


__all__ = ["ACTIVE", "BOUND", "COMPARE", "ERROR", "FIT", "IMPROVEMENT_BACKGROUND", "INFO",
           "KNEE", "LEVELS", "MARKER", "MUTED", "NEUTRAL", "OK", "ON_COLOUR", "PAGE_HEAD",
           "PAGE_NOTE", "PAGE_RULE", "PAGE_TEXT", "PAPER", "PLAN", "REGRESSION_BACKGROUND",
           "SERIES", "WARNING", "WARNING_BACKGROUND", "WARNING_EDGE", "series"]
