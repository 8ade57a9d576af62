"""Bokeh building blocks every chart of loadnb shares: :mod:`~loadnb.charts.bokehjs` (BokehJS
once per notebook kernel, inline and compressed), :mod:`~loadnb.charts.axes` (readable tick
labels, throughput drawn from full intervals) and :mod:`~loadnb.charts.palette` (the one palette
of every chart and face).

Imports nothing of loadnb; Bokeh and IPython are imported inside the functions that draw. The
engine side never imports this package.
"""

__all__: list[str] = []
