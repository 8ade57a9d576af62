"""Figure helpers shared by every dashboard tab: one size, one toolbar, one way to draw lines.

Renderers are made here rather than by ``figure.line``: that one adds two copies of every glyph
(for selections and muting, which the dashboard never uses), and every model is paid for when the
widget is built and serialized (about 1.5 ms each; the dashboard has several hundred).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from bokeh.models import Column, DataRange1d, HoverTool, LayoutDOM, Range, Row
from bokeh.models.annotations import Legend, LegendItem, Title
from bokeh.models.glyph import Glyph
from bokeh.models.glyphs import Line as LineGlyph
from bokeh.models.renderers import DataRenderer, GlyphRenderer
from bokeh.models.sources import ColumnDataSource
from bokeh.plotting import figure

from ..charts import palette
from ..charts.axes import readable_axes

WIDTH, HEIGHT = 450, 230
#: Narrowest a chart gets. Charts fill their container's width (``stretch_width``); a row of
#: charts wraps to one chart per line when the container is narrower than two of these.
MIN_WIDTH = 360
#: What the figures and layouts of the dashboard are made with: the width of their container.
STRETCH: dict[str, Any] = {"sizing_mode": "stretch_width", "min_width": MIN_WIDTH}
TOOLS = "pan,box_zoom,wheel_zoom,reset,save"

Line: TypeAlias = "tuple[GlyphRenderer[Any], LegendItem]"


def title_of(fig: figure) -> Title:
    """The figure's title model (figures made here always have one)."""
    assert isinstance(fig.title, Title)
    return fig.title


def make_figure(title: str, y_label: str, x_range: Range, y_range: Range | None = None, *,
                anchor: ColumnDataSource | None = None) -> figure:
    """A time-series figure (x: elapsed seconds) of the dashboard's size and style.

    Its axes read like numbers people write (:func:`loadnb.charts.axes.readable_axes`). An
    invisible point at (0, 0) (``anchor``, which figures may share: see :func:`anchor_source`)
    gives auto ranges a span before any data comes: without it the axes of a chart whose lines
    are all empty or hidden are not drawn at all.
    """
    fig = figure(title=title, height=HEIGHT, **STRETCH, tools=TOOLS, y_axis_label=y_label,
                 x_axis_label="elapsed (s)", toolbar_location="above", x_range=x_range,
                 y_range=y_range or DataRange1d(start=0, only_visible=True))
    fig.toolbar.logo = None
    title_of(fig).text_font_size = "12px"
    render(fig, LineGlyph(x="x", y="y", line_alpha=0.0), anchor or anchor_source())
    readable_axes(fig)
    return fig


def flow(*rows: Sequence[LayoutDOM]) -> Column:
    """Rows of charts as wide as their container; a row wraps (one chart per line) when the
    container is narrower than its charts' ``MIN_WIDTH`` side by side."""
    return Column(children=[Row(children=list(r), sizing_mode="stretch_width",
                                styles={"flex-wrap": "wrap"}) for r in rows],
                  sizing_mode="stretch_width")


def anchor_source(y: float = 0.0) -> ColumnDataSource:
    """A source with the single point ``(0, y)``, drawn invisibly to anchor a figure's ranges."""
    return ColumnDataSource({"x": [0.0], "y": [y]})


def render(fig: figure, glyph: Glyph, source: ColumnDataSource, label: str | None = None,
           **kwargs: Any) -> GlyphRenderer[Any]:
    """Add ``glyph`` drawn from ``source`` to ``fig`` (and to its legend as ``label``)."""
    renderer: GlyphRenderer[Any] = GlyphRenderer(data_source=source, glyph=glyph, **kwargs)
    fig.renderers.append(renderer)
    if label is not None:
        legend = fig.legend[0]
        legend.items = [*legend.items, LegendItem(label=label, renderers=[renderer])]
    return renderer


def legend_item(fig: figure, renderer: GlyphRenderer[Any]) -> LegendItem:
    """The legend item of ``renderer`` in ``fig``."""
    return next(item for item in fig.legend[0].items
                if isinstance(item, LegendItem) and renderer in item.renderers)


def lines(fig: figure, source: ColumnDataSource, series: list[tuple[str, str]], hover: str, *,
          first_color: int = 0, dash: str = "solid", extra: list[tuple[str, str]] | None = None,
          ) -> list[Line]:
    """One line per ``(column, label)``, the legend above the plot (in one row, so it hides no
    data, and every figure's plot area has the same height) and a hover tool (``extra``: more
    tooltip rows)."""
    if not fig.legend:
        legend = Legend(orientation="horizontal", click_policy="hide", spacing=14, margin=0,
                        label_text_font_size="10px", border_line_alpha=0, glyph_width=16,
                        glyph_height=10, label_height=10)
        legend.update(padding=1, label_standoff=4)
        fig.add_layout(legend, "above")
    out: list[Line] = []
    for i, (col, label) in enumerate(series):
        glyph = LineGlyph(x="elapsed_time", y=col, line_width=2, line_dash=dash,
                          line_color=palette.series(first_color + i))
        renderer = render(fig, glyph, source, label)
        out.append((renderer, legend_item(fig, renderer)))
    first: list[DataRenderer] = [out[0][0]]
    fig.add_tools(HoverTool(renderers=first, mode="vline", tooltips=[
        ("elapsed", "@elapsed_time{0.0} s"), *[(lab, f"@{{{col}}}{{{hover}}}")
                                                for col, lab in series], *(extra or [])]))
    return out


__all__ = ["HEIGHT", "MIN_WIDTH", "STRETCH", "TOOLS", "WIDTH", "Line", "anchor_source", "flow",
           "legend_item", "lines", "make_figure", "render", "title_of"]
