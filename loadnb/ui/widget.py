"""LoadTest: the notebook widget — a form, Start/Stop, live metrics, alerts and a Bokeh dashboard.

It is a face of :class:`loadnb.run.Run` and nothing more: Start builds a spec with
:func:`loadnb.config.make_spec`, makes a Run, subscribes to it and starts it as a task on the
kernel's event loop, so the cell returns at once and the widget updates while the load goes on.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..config import LoadSpec, make_spec
from ..result import Result
from ..run import Run
from ..snapshot import Snapshot
from .alerts import Alert, default_alerts, evaluate
from .bokeh_model import LiveBokehModel
from .controls import Controls
from .dashboard import ROLLOVER, Dashboard
from .formatting import done_line, html_details, html_line, load_text, metrics_line

if TYPE_CHECKING:
    import pandas as pd

_STYLE = {"description_width": "110px"}
_COLORS = {"info": "#1f4e79", "ok": "#1b5e20", "warning": "#8a5300", "error": "#b00020"}
_BARS = {"done": "success", "stopped": "warning", "failed": "danger"}


def ensure_bokehjs() -> None:
    """Load BokehJS into the page once per kernel, inline (no CDN: works offline)."""
    from bokeh.io import output_notebook
    from bokeh.io.state import curstate
    from bokeh.resources import Resources

    if not curstate().notebook:
        resources = Resources(mode="inline", components=["bokeh", "bokeh-widgets", "bokeh-tables"])
        output_notebook(resources, hide_banner=True)


class LoadTest(W.VBox):  # type: ignore[misc]
    """A load test you can see: the last expression of a cell displays it.

    Parameters are those of :func:`loadnb.run` / :func:`loadnb.config.make_spec` (bad ones raise
    the same ``ValueError`` before anything is shown), plus ``alerts`` (callables
    ``(Snapshot) -> str | None``, default :func:`loadnb.ui.alerts.default_alerts`) and
    ``rollover`` (points kept per chart series).

    Example (notebook cells)::

        test = loadnb.LoadTest(url, users=10, duration="8s")
        test                      # the widget
        test.start()              # returns at once; the widget streams
        await test.wait()         # the Result; test.df, test.stats, test.summary
    """

    def __init__(self, url: str, *, users: int | None = None, rate: float | None = None,
                 duration: str | float | None = None, ramp_up: str | float = 0.0,
                 alerts: Sequence[Alert] | None = None, rollover: int = ROLLOVER,
                 **params: Any) -> None:
        spec = make_spec(url, users=users, rate=rate, duration=duration, ramp_up=ramp_up,
                         **params)
        controls = Controls(spec, params)
        start = W.Button(description="Start", button_style="success", icon="play",
                         tooltip="Start a new run with these settings")
        stop = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                        tooltip="Stop now: no new requests, requests in flight cancelled")
        progress = W.FloatProgress(value=0.0, min=0.0, max=100.0, description="Progress",
                                   bar_style="info", style=_STYLE, layout=W.Layout(width="560px"))
        metrics = W.HTML(html_line(metrics_line(None, "idle"), bold=True, mono=True))
        status = W.HTML(html_line("Ready: press Start or call test.start().",
                                  color=_COLORS["info"]))
        alert_area = W.HTML()
        dashboard = Dashboard(rollover)
        chart = LiveBokehModel(dashboard.layout)
        title = W.HTML("<b style='font-size:14px'>⚡ loadnb load test</b>")
        super().__init__(children=[title, controls.box, W.HBox([start, stop]), progress,
                                   metrics, status, alert_area, chart])
        self.controls = controls
        self.start_button, self.stop_button = start, stop
        self.progress, self.metrics, self.status = progress, metrics, status
        self.alert_area, self.dashboard, self.chart = alert_area, dashboard, chart
        #: Alert callables run on every snapshot (add your own; see :mod:`loadnb.ui.alerts`).
        self.alerts: list[Alert] = default_alerts() if alerts is None else list(alerts)
        #: Results of every run started here, oldest first (the last one may still be running).
        self.results: list[Result] = []
        self._run: Run | None = None
        self._alert_hits: dict[int, tuple[str, int]] = {}
        self._alert_failures: list[str] = []
        self._firing: set[int] = set()
        controls.on_change = self._refresh_buttons
        start.on_click(self._click_start)
        stop.on_click(self._click_stop)

    # -- display ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        if "controls" not in self.__dict__:  # during construction
            return "<LoadTest>"
        try:
            spec = self.controls.spec()
        except ValueError as exc:
            return f"<LoadTest (invalid: {exc}) {self.state}>"
        load, length = load_text(spec)
        return (f"<LoadTest {spec.method} {spec.public_params()['url']} {load}, {length}: "
                f"{self.state}, {len(self.results)} result(s)>")

    def _ipython_display_(self, **kwargs: Any) -> None:
        from IPython.display import display

        ensure_bokehjs()
        display(self._repr_mimebundle_(**kwargs), raw=True)  # type: ignore[no-untyped-call]

    # -- state -----------------------------------------------------------------------------
    @property
    def spec(self) -> LoadSpec:
        """The spec the next Start would run (raises ``ValueError`` if the form is invalid)."""
        return self.controls.spec()

    @property
    def running(self) -> bool:
        """Whether a run is going on (running or stopping)."""
        return self._run is not None and not self._run.done

    @property
    def state(self) -> str:
        """``idle`` before the first Start, else the current run's state."""
        return "idle" if self._run is None else self._run.state

    @property
    def current_run(self) -> Run | None:
        """The latest :class:`~loadnb.run.Run` (None before the first Start)."""
        return self._run

    @property
    def result(self) -> Result | None:
        """The latest run's :class:`~loadnb.result.Result` (filled in as the run goes)."""
        return self.results[-1] if self.results else None

    @property
    def df(self) -> pd.DataFrame:
        """Snapshots of the latest run: live during the run, complete after it."""
        if self._run is None:
            from ..frame import snapshots_frame

            return snapshots_frame([])
        return self._run.df

    @property
    def stats(self) -> pd.DataFrame:
        """Per request name statistics of the latest run (complete once it has ended)."""
        return self._latest().stats

    @property
    def errors(self) -> pd.DataFrame:
        """Errors of the latest run by name and kind, with a sample message."""
        return self._latest().errors

    @property
    def errors_timeline(self) -> pd.DataFrame:
        """Failures per interval by kind (long format) of the latest run."""
        return self._latest().errors_timeline

    @property
    def summary(self) -> dict[str, Any]:
        """The latest run's summary dict (what ``loadnb run --json`` prints)."""
        return self._latest().summary

    def _latest(self) -> Result:
        if not self.results:
            raise RuntimeError("no run yet: call test.start() or `await test.run()` first")
        return self.results[-1]

    # -- control ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start a new run with the form's settings and return at once (needs a running loop).

        Refused, with a message in the widget, while a run is going on or while the form has an
        invalid value.
        """
        refusal = self._refusal()
        if refusal is not None:
            self._say(refusal, "warning")
            return
        spec = self.controls.spec()
        run = Run(spec)
        run.subscribe(partial(self._on_snapshot, run))
        run.on_state(self._on_state)
        self.dashboard.reset(spec)
        self._alert_hits, self._alert_failures, self._firing = {}, [], set()
        self.alert_area.value = ""
        self.progress.value, self.progress.bar_style = 0.0, "info"
        previous, self._run = self._run, run
        try:
            run.start()
        except RuntimeError as exc:
            self._run = previous
            self._say(f"❌ {exc}", "error")
            self._refresh_buttons()
            raise
        self.results.append(run.result)

    def stop(self) -> None:
        """Stop the current run now (requests in flight are cancelled); a no-op otherwise."""
        if self._run is None or not self.running:
            self._say("Nothing to stop: no run is going on.", "info")
            return
        self._run.stop()

    async def wait(self) -> Result:
        """Wait until the current run ends and return its Result (re-raises a failure)."""
        run = self._run
        if run is None:
            raise RuntimeError("no run yet: call test.start() first (or `await test.run()`)")
        try:
            return await run.wait()
        finally:
            if run.done:
                self.sync()

    async def run(self) -> Result:
        """Start a run (unless one is going on) and wait for it; returns its Result.

        Raises ``ValueError`` if the form holds an invalid value. Cancelling the wait (interrupting
        the cell) stops the run.
        """
        if not self.running:
            if self.controls.validate() is None:
                raise ValueError(self.controls.error)
            self.start()
        assert self._run is not None
        try:
            return await self._run.run()
        finally:
            if self._run.done:
                self.sync()

    def sync(self) -> None:
        """Re-send the widget's whole state and chart data from the current cell.

        Called at the end of every run (and by :meth:`wait`), so a saved notebook shows the final
        numbers and charts, also when a headless runner (nbclient) executed it.
        """
        self.chart.resend()
        stack: list[W.Widget] = [self]
        while stack:
            widget = stack.pop()
            if widget is not self.chart:
                widget.send_state()
            for extra in ("layout", "style"):
                sub = getattr(widget, extra, None)
                if isinstance(sub, W.Widget):
                    sub.send_state()
            stack.extend(getattr(widget, "children", ()))

    # -- handlers --------------------------------------------------------------------------
    def _refusal(self) -> str | None:
        if self.running:
            return "⚠ A run is already going on: stop it first (or wait for it to end)."
        if self.controls.validate() is None:
            return f"⚠ Cannot start: {self.controls.error}"
        return None

    def _click_start(self, _button: W.Button) -> None:
        try:
            self.start()
        except Exception as exc:  # noqa: BLE001 - shown in the widget, not raised into the kernel
            self._show_exception("Start failed", exc)

    def _click_stop(self, _button: W.Button) -> None:
        try:
            self.stop()
        except Exception as exc:  # noqa: BLE001
            self._show_exception("Stop failed", exc)

    def _on_snapshot(self, run: Run, snap: Snapshot) -> None:
        if run is not self._run:
            return
        try:
            self.progress.value = min(100.0, max(0.0, snap.progress_percent))
            self.metrics.value = html_line(metrics_line(snap, run.state), bold=True, mono=True)
            self.dashboard.update(snap)
            firing, failures = evaluate(self.alerts, snap)
            for index, text in firing.items():
                self._alert_hits[index] = (text, self._alert_hits.get(index, ("", 0))[1] + 1)
            self._firing = set(firing)
            self._alert_failures += [f for f in failures if f not in self._alert_failures]
            self._show_alerts(run)
        except Exception as exc:  # noqa: BLE001 - the load goes on; the error is shown
            self._show_exception("Updating the widget failed", exc)

    def _on_state(self, run: Run) -> None:
        if run is not self._run:
            return
        try:
            if run.state == "running":
                load, length = load_text(run.spec)
                self._say(f"🔄 Running: {load} for {length} against "
                          f"{run.spec.public_params()['url']}", "info")
                self.metrics.value = html_line(metrics_line(None, "running"), bold=True,
                                               mono=True)
            elif run.state == "stopping":
                self._say("⏹ Stopping: no new requests; requests in flight are cancelled.",
                          "warning")
            elif run.done:
                self._finish(run)
        except Exception as exc:  # noqa: BLE001
            self._show_exception("Updating the widget failed", exc)
        finally:
            self._refresh_buttons()

    def _finish(self, run: Run) -> None:
        result = run.result
        state = result.state if result.state in _BARS else run.state
        self.progress.bar_style = _BARS.get(state, "info")
        if state == "done":
            self.progress.value = 100.0
        last = result.snapshots[-1] if result.snapshots else None
        self.metrics.value = html_line(metrics_line(last, state), bold=True, mono=True)
        if run.error is not None:
            self._show_exception("❌ The run failed", run.error)
        else:
            self._say(("✅ " if state == "done" else "⏹ ") + done_line(result.summary),
                      "ok" if state == "done" else "warning")
        self.dashboard.finish(result)
        self._show_alerts(run)
        self._refresh_buttons()
        self.sync()

    # -- showing ---------------------------------------------------------------------------
    def _refresh_buttons(self) -> None:
        running = self.running
        self.start_button.disabled = running or self.controls.error is not None
        self.stop_button.disabled = not running
        self.controls.set_enabled(not running)

    def _say(self, text: str, level: str = "info") -> None:
        self.status.value = html_line(text, color=_COLORS.get(level))

    def _show_exception(self, what: str, exc: BaseException) -> None:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.status.value = html_details(f"{what}: {type(exc).__name__}: {exc}", trace)

    def _show_alerts(self, run: Run) -> None:
        lines = []
        for index, (text, count) in sorted(self._alert_hits.items()):
            now = index in self._firing
            times = f" ({count} intervals)" if count > 1 else ""
            style = "font-weight:600" if now else "opacity:0.75"
            lines.append(f"<div style='{style}'>{html.escape(text)}{times}"
                         f"{'' if now else ' — earlier in the run'}</div>")
        lines += [f"<div>⚠️ {html.escape(w)}</div>" for w in [*run.warnings,
                                                              *self._alert_failures]]
        body = "".join(lines)
        value = (f"<div style='color:{_COLORS['warning']};background:#fff8e1;padding:4px 8px;"
                 f"border-left:3px solid #f0a000'>{body}</div>") if body else ""
        if self.alert_area.value != value:
            self.alert_area.value = value
