"""The *Find capacity* area of the LoadTest widget: an SLO, a max rate, a step duration, a button.

Pressing *Find capacity* runs :func:`loadnb.capacity.acapacity` on the widget's target (URL or
scenario, with the form's headers, timeout and other pass-through parameters) as a task on the
kernel's loop, so the cell returns at once. Each step appears in a small table as it ends; at the
end come the verdict line (``capacity_rps``, ``limited_by``, the bracket) and the capacity chart
(a ``jupyter_bokeh`` ``BokehModel`` of :meth:`~loadnb.capacity.CapacityResult.chart`). Cancelling
the task (the widget's Stop) stops the current step's run; the result then says
``limited_by="stopped"``.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from ..charts import palette
from ..results.words import STATES
from ..rules.thresholds import parse_thresholds
from ..studies.capacity import CapacityResult, acapacity
from ..text.numbers import DASH, fixed, percent
from ..text.units import parse_duration
from .formatting import html_details, html_line
from .kernel_cluster import kernel_kwargs

DEFAULT_SLO = "p99<200ms, errors<1%"
#: ``make_spec`` parameters the capacity search sets itself (left out of what the form gives).
SEARCH_SETS = frozenset({"users", "rate", "duration", "ramp_up", "requests", "thresholds",
                         "stages", "rate_stages", "shape", "rate_shape"})
_STYLE = {"description_width": "110px"}
_COLORS = palette.LEVELS
_HEAD = ("#", "offered rps", "achieved rps", "p50 ms", "p99 ms", "errors", "passed")


def split_slo(text: str) -> list[str]:
    """The comma-separated threshold expressions of ``text`` (blank pieces dropped).

    >>> split_slo("p99<200ms, errors<1%")
    ['p99<200ms', 'errors<1%']
    """
    return [part.strip() for part in text.split(",") if part.strip()]


def steps_html(rows: list[dict[str, Any]]) -> str:
    """The steps so far as a small HTML table (one row per step, in the order they ran)."""
    if not rows:
        return ""
    cell = "padding:1px 8px;text-align:right"
    head = "".join(f"<th style='{cell}'>{h}</th>" for h in _HEAD)
    body = []
    for i, r in enumerate(rows, 1):
        err = r.get("error_rate")
        vals = (str(i), fixed(r["offered_rps"], 1), fixed(r["achieved_rps"], 1),
                fixed(r["p50_ms"], 1), fixed(r["p99_ms"], 1),
                DASH if err is None else percent(100 * err, 2),
                "✅" if r["passed"] else "❌")
        body.append("<tr>" + "".join(f"<td style='{cell}'>{v}</td>" for v in vals) + "</tr>")
    return ("<table class='loadnb-capacity-steps' style='font-family:monospace;font-size:12px;"
            f"border-collapse:collapse'><tr>{head}</tr>{''.join(body)}</table>")


def stopped_result(slo: list[str], rows: list[dict[str, Any]]) -> CapacityResult:
    """What a search stopped part way found: the best passing rate so far, ``"stopped"``."""
    good = [r["offered_rps"] for r in rows if r["passed"]]
    best = max(good) if good else None
    bad = [r["offered_rps"] for r in rows if not r["passed"]
           and (best is None or r["offered_rps"] > best)]
    return CapacityResult(slo, list(rows), [], best, (best, min(bad) if bad else None),
                          "stopped")


class CapacityPanel:
    """The widgets of the *Find capacity* area and the search task (see the module docstring).

    ``target`` returns the first argument and keyword arguments of :func:`acapacity` for the
    widget's current form (raises ``ValueError`` when the form is invalid); ``blocked`` says why
    a search may not start now (a run is going on), or None; ``on_busy`` is called when a search
    starts and when it ends.
    """

    def __init__(self, target: Callable[[], tuple[object, dict[str, Any]]],
                 blocked: Callable[[], str | None], on_busy: Callable[[], None]) -> None:
        self._target, self._blocked, self._on_busy = target, blocked, on_busy
        self.slo = W.Text(value=DEFAULT_SLO, description="SLO", continuous_update=False,
                          placeholder="p99<200ms, errors<1%", style=_STYLE,
                          layout=W.Layout(width="560px"))
        self.max_rate = W.BoundedFloatText(value=1000.0, min=1.0, max=1e6, step=10.0,
                                           description="Max rate (req/s)", style=_STYLE)
        self.step_duration = W.BoundedFloatText(value=5.0, min=0.1, max=3600.0, step=0.5,
                                                description="Step (s)", style=_STYLE)
        self.button = W.Button(description="Find capacity", button_style="primary",
                               icon="search", tooltip="Search the highest rate within the SLO")
        self.error = W.HTML()
        self.status = W.HTML()
        self.table = W.HTML()
        self.verdict = W.HTML()
        self.chart_box = W.Box()
        body = W.VBox([self.slo, self.error, W.HBox([self.max_rate, self.step_duration]),
                       self.button, self.status, self.table, self.verdict, self.chart_box])
        #: The collapsible area shown below Start/Stop.
        self.box = W.Accordion(children=[body], selected_index=None)
        self.box.set_title(0, "Find capacity")
        #: The last search's result (None before the first one ends).
        self.result: CapacityResult | None = None
        self.rows: list[dict[str, Any]] = []
        self.slo_error: str | None = None
        self._task: asyncio.Task[CapacityResult] | None = None
        self.slo.observe(lambda _change: self.refresh(), names="value")
        self.button.on_click(self._click)
        self.refresh()

    @property
    def busy(self) -> bool:
        """Whether a search is going on."""
        return self._task is not None and not self._task.done()

    def parsed_slo(self) -> list[str]:
        """The SLO field's expressions, validated (raises ``ValueError`` with one message)."""
        exprs = split_slo(self.slo.value)
        if not exprs:
            raise ValueError("the SLO needs at least one threshold expression, e.g. p99<200ms")
        parse_thresholds(exprs)
        return exprs

    def refresh(self) -> None:
        """Validate the SLO (its message below the field) and enable the button accordingly."""
        try:
            self.parsed_slo()
            self.slo_error = None
        except ValueError as exc:
            self.slo_error = f"Invalid SLO: {exc}"
        value = "" if self.slo_error is None else html_line(f"⚠ {self.slo_error}",
                                                             color=_COLORS["error"])
        if self.error.value != value:
            self.error.value = value
        self.button.disabled = (self.busy or self.slo_error is not None
                                or self._blocked() is not None)

    # -- the search ------------------------------------------------------------------------
    def start(self, slo: list[str] | str | None = None, max_rate: float | None = None,
              step_duration: str | float | None = None,
              **params: Any) -> asyncio.Task[CapacityResult]:
        """Start a search as a task on the running loop and return it (raises ``ValueError`` /
        ``RuntimeError`` before anything is sent). Unset values come from the fields."""
        if self.busy:
            raise RuntimeError("a capacity search is already going on")
        why = self._blocked()
        if why is not None:
            raise RuntimeError(why)
        if slo is None:
            exprs = self.parsed_slo()
        else:
            exprs = split_slo(slo) if isinstance(slo, str) else list(slo)
            parse_thresholds(exprs)
        rate = float(self.max_rate.value if max_rate is None else max_rate)
        step = parse_duration(self.step_duration.value if step_duration is None
                              else step_duration, "step_duration")
        first, kwargs = self._target()
        kwargs = {k: v for k, v in kwargs.items() if k not in SEARCH_SETS}
        kwargs.update(params)
        loop = asyncio.get_running_loop()  # RuntimeError outside a running loop
        self.rows = []
        self.table.value = self.verdict.value = ""
        self.chart_box.children = ()
        coro = self._steps(first, exprs, rate, step, kwargs)
        self._task = loop.create_task(self._search(coro, exprs), name="loadnb-capacity")
        self._say(f"🔎 Searching the capacity within {', '.join(exprs)} (up to {rate:g} req/s, "
                  f"{step:g} s steps)…", "info")
        self.refresh()
        self._on_busy()
        return self._task

    def stop(self) -> None:
        """Stop the search: the current step's run is stopped; the result says ``stopped``."""
        if self._task is not None and not self._task.done():
            self._say(f"{STATES['stopping'].icon} Stopping the capacity search…", "warning")
            self._task.cancel()

    async def _steps(self, first: Any, exprs: list[str], rate: float, step: float,
                     kwargs: dict[str, Any]) -> CapacityResult:
        """The search itself: with ``workers=N``, every step on the kernel's kept cluster."""
        kwargs = await kernel_kwargs(kwargs)
        return await acapacity(first, exprs, max_rate=rate, step_duration=step,
                               on_step=self._on_step, **kwargs)

    async def _search(self, coro: Any, exprs: list[str]) -> CapacityResult:
        try:
            result: CapacityResult = await coro
        except asyncio.CancelledError:
            result = stopped_result(exprs, self.rows)
            self._finish(result, "⏹ Stopped: ", "warning")
            return result
        except Exception as exc:
            self.status.value = html_details(f"❌ The capacity search failed: "
                                             f"{type(exc).__name__}: {exc}", repr(exc))
            self._task = None
            self.refresh()
            self._on_busy()
            raise
        self._finish(result, "✅ " if result.capacity_rps is not None else "⚠ ",
                     "ok" if result.capacity_rps is not None else "warning")
        return result

    def _on_step(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.table.value = steps_html(self.rows)
        self._say(f"🔎 Step {len(self.rows)}: {fixed(row['offered_rps'], 1)} req/s offered "
                  f"{'passed' if row['passed'] else 'overloaded'}…", "info")

    def _finish(self, result: CapacityResult, prefix: str, level: str) -> None:
        self.result = result
        self.table.value = steps_html(result.rows)
        self.verdict.value = html_line(prefix + result.caption(), color=_COLORS[level],
                                       bold=True)
        self._say(f"{len(result.rows)} step(s) run.", "info")
        if result.rows:
            try:
                from jupyter_bokeh import BokehModel

                self.chart_box.children = (BokehModel(result.chart()),)
            except Exception as exc:  # noqa: BLE001 - the verdict stands without its chart
                self.chart_box.children = (W.HTML(html.escape(f"no chart: {exc!r}")),)
        self._task = None
        self.refresh()
        self._on_busy()

    def _click(self, _button: W.Button) -> None:
        try:
            self.start()
        except Exception as exc:  # noqa: BLE001 - shown in the widget, not raised into the kernel
            self._say(f"⚠ Cannot find the capacity: {exc}", "warning")

    def _say(self, text: str, level: str) -> None:
        self.status.value = html_line(text, color=_COLORS[level])


__all__ = ["DEFAULT_SLO", "SEARCH_SETS", "CapacityPanel", "split_slo", "steps_html",
           "stopped_result"]
