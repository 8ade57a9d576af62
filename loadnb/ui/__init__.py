"""The notebook face of loadnb: the :class:`LoadTest` widget and its live Bokeh dashboard.

Needs ipywidgets, bokeh and jupyter_bokeh (``pip install loadnb[notebook]``); the core never
imports this package.
"""

from __future__ import annotations

from .loadtest import LoadTest

__all__ = ["LoadTest"]
