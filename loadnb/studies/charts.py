"""Bokeh charts of a capacity search and of a closed-model sweep (imported only when drawn).

:func:`capacity_chart`: p50/p90/p99 against achieved throughput, one point per step (the
overloaded ones hollow), the SLO's latency bound as a line and the knee (the capacity found) as a
vertical line. :func:`sweep_chart`: measured throughput per concurrency with the Universal
Scalability Law curve fitted over it and its predicted peak.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..charts import palette
from ..charts.axes import readable_axes

if TYPE_CHECKING:
    from bokeh.plotting import figure

    from .usl import UslFit

_COLOURS = {"p50_ms": palette.SERIES[0], "p90_ms": palette.SERIES[1], "p99_ms": palette.SERIES[3]}


def capacity_chart(rows: Sequence[dict[str, Any]], bound_ms: float | None,
                   capacity_rps: float | None) -> figure:
    """Latency percentiles (ms) against achieved throughput (req/s), sorted by offered rate."""
    from bokeh.models import ColumnDataSource
    from bokeh.models.annotations import Span
    from bokeh.plotting import figure as new_figure

    fig = new_figure(title="Capacity search: latency against throughput", height=320,
                     width=640, x_axis_label="achieved throughput (req/s)",
                     y_axis_label="latency (ms)")
    ordered = sorted(rows, key=lambda r: r["offered_rps"])
    for col, colour in _COLOURS.items():
        data: dict[str, Any] = {"x": [r["achieved_rps"] for r in ordered],
                "y": [r[col] if r[col] is not None else float("nan") for r in ordered],
                "offered": [r["offered_rps"] for r in ordered],
                "fill": [colour if r["passed"] else palette.PAPER for r in ordered]}
        src = ColumnDataSource(data)
        label = col.removesuffix("_ms")
        fig.line("x", "y", source=src, color=colour, legend_label=label)
        fig.scatter("x", "y", source=src, color=colour, fill_color="fill", size=7,
                    legend_label=label)
    if bound_ms is not None:
        fig.add_layout(Span(location=bound_ms, dimension="width", line_dash="dashed",
                            line_color=palette.BOUND))
    if capacity_rps is not None:
        knee = [r["achieved_rps"] for r in rows if r["offered_rps"] == capacity_rps]
        fig.add_layout(Span(location=knee[0] if knee else capacity_rps, dimension="height",
                            line_color=palette.KNEE, line_width=2))
    fig.legend.location = "top_left"
    return readable_axes(fig)


def sweep_chart(users: Sequence[int], throughput: Sequence[float], fit: UslFit | None) -> figure:
    """Measured throughput per concurrency, and the fitted USL curve with its peak."""
    from bokeh.models.annotations import Span
    from bokeh.plotting import figure as new_figure

    fig = new_figure(title="Closed-model sweep: throughput per concurrency (USL fit)",
                     height=320, width=640, x_axis_label="concurrent users (N)",
                     y_axis_label="throughput (req/s)")
    fig.scatter(list(users), list(throughput), size=8, color=palette.SERIES[0],
                legend_label="measured")
    if fit is not None and users:
        top = max(max(users), fit.peak_users if fit.peak_users < 4 * max(users) else 0)
        ns = [1 + i * (top - 1) / 200 for i in range(201)]
        fig.line(ns, [fit.predict(n) for n in ns], color=palette.SERIES[3],
                legend_label="USL fit")
        if fit.peak_throughput is not None:
            fig.add_layout(Span(location=fit.peak_throughput, dimension="width",
                                line_dash="dashed", line_color=palette.FIT))
    fig.legend.location = "bottom_right"
    return readable_axes(fig)


def html_of(fig: figure, caption: str = "") -> str:
    """A standalone HTML fragment of ``fig`` under ``caption`` (BokehJS inline: no network)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    return f"<div><p>{html.escape(caption)}</p>{file_html(fig, INLINE, caption or 'loadnb')}</div>"


def display(fig: figure, caption: str = "") -> None:
    """Show ``caption`` and ``fig`` in the notebook (BokehJS loaded inline once per kernel)."""
    from bokeh.io import show
    from IPython.display import Markdown
    from IPython.display import display as ipy_display

    from ..charts.bokehjs import ensure_bokehjs

    ensure_bokehjs()
    if caption:
        ipy_display(Markdown(caption))  # type: ignore[no-untyped-call]
    show(fig)


__all__ = ["capacity_chart", "display", "html_of", "sweep_chart"]
