"""Charts of a fixed number of pre-made, initially hidden lines, each shown and labelled the first
time a label needs one (an error kind, a status code, a worker process): :class:`SlotLines`
and :func:`slot_figure`. The last line takes every label beyond the others ("other"), so the
legend stays short however many labels a run has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, DataRange1d, HoverTool
from bokeh.models.annotations import Legend, LegendItem
from bokeh.models.glyphs import Line as LineGlyph
from bokeh.models.renderers import DataRenderer, GlyphRenderer
from bokeh.plotting import figure

from ..charts import palette
from .figures import legend_item, make_figure, render


@dataclass
class SlotLines:
    """The pre-made, initially hidden lines of one chart and the labels given to them; labels
    beyond the last line but one share the last line, labelled ``other``."""

    renderers: list[GlyphRenderer[Any]]
    items: list[LegendItem]
    other: str = "other"
    slots: dict[str, int] = field(default_factory=dict)

    def slot(self, label: str) -> int:
        """The line index for ``label``, showing a new line on first use (the last is 'other')."""
        if label in self.slots:
            return self.slots[label]
        index, last = len(self.slots), len(self.renderers) - 1
        if index >= last:
            label, index = self.other, last
            if label in self.slots:
                return index
        self.slots[label] = index
        self.renderers[index].visible = True
        self.items[index].label = value(label)
        self.items[index].visible = True
        return index

    def clear(self) -> None:
        """Hide every line again (a new run starts)."""
        for renderer, item in zip(self.renderers, self.items, strict=True):
            renderer.visible = False
            item.visible = False
        self.slots.clear()


def slot_figure(title: str, y_label: str, source: ColumnDataSource, columns: tuple[str, ...],
                x_range: DataRange1d, anchor: ColumnDataSource, *, first_color: int = 3,
                other: str = "other", beside: bool = False) -> tuple[figure, SlotLines]:
    """A time-series figure with one hidden line per column of ``source`` (x: ``elapsed_time``)
    and its legend in the top left corner (``beside``: right of the plot, for many lines)."""
    fig = make_figure(title, y_label, x_range=x_range, anchor=anchor)
    if beside:
        legend = Legend(click_policy="hide", label_text_font_size="9px", spacing=0, margin=4,
                        glyph_height=8, label_height=8, border_line_alpha=0)
        legend.update(padding=2, label_standoff=3)
        fig.add_layout(legend, "right")
    else:
        fig.add_layout(Legend(location="top_left", click_policy="hide",
                              label_text_font_size="10px", background_fill_alpha=0.6))
    renderers: list[GlyphRenderer[Any]] = [
        render(fig, LineGlyph(x="elapsed_time", y=col, line_width=2,
                              line_color=palette.series(i + first_color)),
               source, f"slot {i}", visible=False)
        for i, col in enumerate(columns)]
    items = [legend_item(fig, r) for r in renderers]
    for item in items:
        item.visible = False
    fig.add_tools(HoverTool(renderers=list[DataRenderer](renderers), tooltips=[
        ("elapsed", "@elapsed_time{0.0} s"), (y_label, "$y{0,0.0}")]))
    return fig, SlotLines(renderers, items, other)


__all__ = ["SlotLines", "slot_figure"]
