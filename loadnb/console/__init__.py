"""The terminal face of a run: the live progress line and the end-of-run summary table.

One subscriber, :class:`ConsoleProgress`, writes the live line
(:func:`loadnb.results.words.live_line`, the one the widget shows too) to a text stream (stderr by
default): rewritten in place on a terminal, a new line at most once per second otherwise (logs,
CI). Pure formatting of the end: :func:`format_summary`, :func:`format_error_samples`,
:func:`format_alert`; numbers through :mod:`loadnb.text.numbers`. No pandas, widgets or Bokeh
here: the CLI imports this on its fast path.

May import every package below the faces (:mod:`loadnb.results.words`, :mod:`loadnb.rules`,
:mod:`loadnb.text`, …), never :mod:`loadnb.ui` nor :mod:`loadnb.cli`.
"""

from __future__ import annotations

from .live import ConsoleProgress as ConsoleProgress
from .live import format_alert as format_alert
from .summary import format_error_samples as format_error_samples
from .summary import format_summary as format_summary

__all__ = ["ConsoleProgress", "format_alert", "format_error_samples", "format_summary"]
