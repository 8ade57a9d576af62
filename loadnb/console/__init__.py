"""The terminal face of a run: the live progress line and the end-of-run summary table.

Pure formatting (:func:`format_line`, :func:`format_summary`) plus one subscriber,
:class:`ConsoleProgress`, that writes the line to a text stream (stderr by default): rewritten in
place on a terminal, a new line at most once per second otherwise (logs, CI). No pandas, widgets or
Bokeh here: the CLI imports this on its fast path.
"""

from __future__ import annotations

from .live import FINAL_STATES as FINAL_STATES
from .live import LABELS as LABELS
from .live import ConsoleProgress as ConsoleProgress
from .live import _display_width as _display_width
from .live import _fit as _fit
from .live import format_alert as format_alert
from .live import format_line as format_line
from .summary import format_error_samples as format_error_samples
from .summary import format_summary as format_summary
from .text import DASH as DASH

__all__ = ["DASH", "FINAL_STATES", "LABELS", "ConsoleProgress", "format_alert",
           "format_error_samples", "format_line", "format_summary"]
