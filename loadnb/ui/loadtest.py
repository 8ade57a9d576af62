"""LoadTest: the notebook widget's public face — a form, Start/Stop, the run's results.

It is a face of :class:`~loadnb.runner.run.Run` and nothing more: Start builds a spec with
:func:`~loadnb.spec.config.make_spec`, makes a Run, watches it and starts it as a task on the
kernel's event loop, so the cell returns at once and the widget updates while the load goes on.
What a run looks like is rendered by :class:`~loadnb.ui.run_panel.RunPanel` (bar, live line,
status, alerts, thresholds) and :class:`~loadnb.ui.dashboard.Dashboard` (the Bokeh charts); this
class holds the API (``start``, ``stop``, ``set_users``, ``df``, ``summary``, …) and decides what
they show when.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..charts.bokehjs import ensure_bokehjs
from ..record.update import Update
from ..results.result import Result
from ..results.words import load_text
from ..runner.run import Run, live_rate, live_users
from ..spec.config import LoadSpec, make_spec
from ..spec.scenario import split_url_or_scenario
from ..studies.capacity import CapacityResult
from .bokeh_model import LiveBokehModel, resend_tree
from .capacity_panel import CapacityPanel
from .controls import Controls
from .dashboard import ROLLOVER, Dashboard
from .history_tab import HistoryTab
from .kernel_cluster import KernelRun, kernel_spec
from .latest import LatestResults
from .offer import WorkerOffer
from .run_panel import RunPanel

if TYPE_CHECKING:
    pass



class LoadTest(LatestResults, W.VBox):  # type: ignore[misc]
    """A load test you can see: the last expression of a cell displays it.

    Parameters are those of :func:`loadnb.run` / :func:`loadnb.make_spec` (bad ones raise the
    same ``ValueError`` before anything is shown): the first argument is the target URL, or a
    scenario whose base URL is then ``url=``; ``users`` | ``rate``, ``duration``, ``stages``,
    ``data``, ``thresholds``, ``alerts``, … Plus ``rollover`` (points kept per chart series).

    The planned load is drawn (dashed) as soon as the widget shows; during a run the users slider
    (closed model) or the rate field (open model) changes the running load, as do
    :meth:`set_users` and :meth:`set_rate`, and each change is marked on the charts.

    Example (notebook cells)::

        test = loadnb.LoadTest(url, users=10, duration="8s")
        test                      # the widget
        test.start()              # returns at once; the widget streams
        test.set_users(20)        # a live change, marked on the charts
        await test.wait()         # the Result; test.df, test.stats, test.summary
    """

    def __init__(self, url_or_scenario: object = None, *, url: str | None = None,
                 scenario: object = None, users: int | None = None, rate: float | None = None,
                 duration: str | float | None = None, ramp_up: str | float = 0.0,
                 rollover: int = ROLLOVER, **params: Any) -> None:
        target, scenario = split_url_or_scenario(url_or_scenario, url, scenario)
        if scenario is not None:
            params["scenario"] = scenario
        spec = make_spec(target, users=users, rate=rate, duration=duration, ramp_up=ramp_up,
                         **params)
        controls = Controls(spec, params)
        self._spec0 = spec
        panel = RunPanel()
        dashboard = Dashboard(rollover)
        dashboard.show_spec(spec)  # the planned load, before anything runs
        chart = LiveBokehModel(dashboard.layout)
        history = HistoryTab(dashboard.compare, lambda: controls.last_spec or spec)
        views = history.wrap(chart)  # tabs: the dashboard, History (read when first shown)
        title = W.HTML("<b style='font-size:14px'>⚡ loadnb load test</b>")
        self._run: Run | None = None
        capacity = CapacityPanel(
            lambda: (None, controls.checked_kwargs()),
            lambda: "a run is going on: stop it first (or wait for it to end)"
            if self.running else None, self._capacity_changed)
        #: The offer to run in a worker process when the kernel's loop is the bottleneck.
        self.offer = WorkerOffer(self._take_offer)
        self._again_in_worker = False
        super().__init__(children=[title, controls.box, panel.buttons, capacity.box,
                                   *panel.widgets, self.offer.box, views])
        self.controls = controls
        #: The *Find capacity* area (SLO, max rate, step duration, steps table, verdict, chart).
        self.capacity = capacity
        self.start_button, self.stop_button = panel.start_button, panel.stop_button
        #: How the current run looks: progress bar and badge, live line, status, alerts,
        #: thresholds (its widgets are also here by name: ``progress``, ``metrics``, …).
        self.panel = panel
        self.progress, self.metrics, self.status = panel.progress, panel.metrics, panel.status
        self.state_badge = panel.badge
        self.alert_area, self.thresholds_area = panel.alert_area, panel.thresholds_area
        self.dashboard, self.chart = dashboard, chart
        #: The History tab (past runs of the target, compare) and the Tab holding it and the chart.
        self.history, self.views = history, views
        #: Results of every run started here, oldest first (the last one may still be running).
        self.results: list[Result] = []
        controls.on_change = self._form_changed
        controls.on_live = self._live_edit
        panel.start_button.on_click(self._click_start)
        panel.stop_button.on_click(self._click_stop)

    def __repr__(self) -> str:
        if "controls" not in self.__dict__:  # during construction
            return "<LoadTest>"
        try:
            spec = self.controls.spec()
        except ValueError as exc:
            return f"<LoadTest (invalid: {exc}) {self.state}>"
        load, length = load_text(spec)
        what = spec.target if spec.scenario is not None else f"{spec.method} {spec.target}"
        return f"<LoadTest {what} {load}, {length}: {self.state}, {len(self.results)} result(s)>"

    def _ipython_display_(self, **kwargs: Any) -> None:
        from IPython.display import display

        ensure_bokehjs()
        display(self._repr_mimebundle_(**kwargs), raw=True)  # type: ignore[no-untyped-call]

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
        """The latest :class:`~loadnb.runner.run.Run` (None before the first Start)."""
        return self._run

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
        run = KernelRun(kernel_spec(spec))  # workers=N: on the kernel's kept cluster
        run.watch(partial(self._on_update, run))
        run.on_state(self._on_state)
        self.dashboard.reset(spec)
        self.panel.reset()
        self.offer.hide()
        previous, self._run = self._run, run
        try:
            run.start()
        except RuntimeError as exc:
            self._run = previous
            self._say(f"❌ {exc}", "error")
            self._refresh_buttons()
            raise
        self.results.append(run.result)
        self.panel.show_badge(run.state)

    def run_in_worker(self) -> None:
        """Run this test with ``workers=1`` from now on: in a worker process of its own, on the
        Dask cluster the kernel keeps (what the offer's button does when the kernel's loop is the
        bottleneck). A run going on is stopped and the same test starts again there."""
        self.controls.params.pop("cluster", None)
        self.controls.params["workers"] = 1
        self.offer.hide()
        if self._run is not None and self.running:
            self._again_in_worker = True
            self._run.stop()
            self._say("⏹ Stopping this run: the test starts again in a worker process.", "info")
        else:
            self.start()

    def stop(self) -> None:
        """Stop the current run now (requests in flight are cancelled), or the capacity search
        (its current step's run is stopped); a no-op otherwise."""
        if self.capacity.busy:
            self.capacity.stop()
            return
        if self._run is None or not self.running:
            self._say("Nothing to stop: no run is going on.", "info")
            return
        self._run.stop()

    def set_users(self, users: int) -> None:
        """Change the running test's users now (closed model): within one interval, marked on
        the charts and in ``df["event"]``; the slider follows. ``RuntimeError`` with no run
        going on, ``ValueError`` for a bad number or an open-model run (:meth:`set_rate`)."""
        users = live_users(users)
        self._live_run().set_users(users)
        self.controls.set_quietly("users", users)
        self._said_live(f"users set to {users:,}")

    def set_rate(self, rate: float) -> None:
        """Change the running test's arrival rate (requests/s) now (open model): as
        :meth:`set_users` does for users (``ValueError`` in the closed model)."""
        rate = live_rate(rate)
        self._live_run().set_rate(rate)
        self.controls.set_quietly("rate", rate)
        self._said_live(f"rate set to {rate:g} requests/s")

    def _live_run(self) -> Run:
        if self._run is None or self._run.state != "running":
            raise RuntimeError("no run is going on: live changes need a running test "
                               "(test.start() first)")
        return self._run

    def _said_live(self, what: str) -> None:
        run = self._run
        at = run.snapshots[-1].elapsed_time if run is not None and run.snapshots else 0.0
        self._say(f"🎚 Live change at about {at:.1f} s: {what} (marked on the charts).", "info")

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

    @property
    def capacity_result(self) -> CapacityResult | None:
        """The last capacity search's :class:`~loadnb.studies.capacity.CapacityResult` (or None)."""
        return self.capacity.result

    async def find_capacity(self, slo: list[str] | str | None = None, *,
                            max_rate: float | None = None,
                            step_duration: str | float | None = None,
                            **params: Any) -> CapacityResult:
        """Search the capacity of the widget's target within ``slo`` (what *Find capacity*
        does) and return the result; unset values come from the fields. Other parameters
        (``max_steps``, ``start_rate``, ``cooldown``…) go to :func:`loadnb.acapacity`. Raises
        ``ValueError`` for a bad SLO or form, ``RuntimeError`` while a run or search goes on."""
        return await self.capacity.start(slo, max_rate, step_duration, **params)

    def _capacity_changed(self) -> None:
        self._refresh_buttons()
        if not self.capacity.busy:
            self.sync()

    def sync(self) -> None:
        """Re-send the widget's whole state and chart data from the current cell.

        Called at the end of every run (and by :meth:`wait`), so a saved notebook shows the final
        numbers and charts, also when a headless runner (nbclient) executed it.
        """
        resend_tree(self, self.chart)

    def _refusal(self) -> str | None:
        if self.capacity.busy:
            return "⚠ A capacity search is going on: stop it first (or wait for it to end)."
        if self.running:
            return "⚠ A run is already going on: stop it first (or wait for it to end)."
        if self.controls.validate() is None:
            return f"⚠ Cannot start: {self.controls.error}"
        return None

    def _form_changed(self) -> None:
        """A validated edit (no run going on): redraw the plan the next Start would run."""
        self._refresh_buttons()
        spec = self.controls.last_spec
        if spec is not None and not self.running:
            self.dashboard.show_spec(spec)

    def _live_edit(self, field: str, value: Any) -> None:
        """The live field moved during a run: change the running load (never raises)."""
        try:
            if field == "users":
                self.set_users(int(value))
            else:
                self.set_rate(float(value))
        except Exception as exc:  # noqa: BLE001 - shown in the widget, not raised into the kernel
            self._say(f"⚠ Live change refused: {exc}", "warning")

    def _click_start(self, _button: W.Button) -> None:
        try:
            self.start()
        except Exception as exc:  # noqa: BLE001 - shown in the widget, not raised into the kernel
            self._show_exception("Start failed", exc)

    def _take_offer(self) -> None:
        try:
            self.run_in_worker()
        except Exception as exc:  # noqa: BLE001 - shown in the widget, not raised into the kernel
            self._show_exception("Running in a worker process failed", exc)

    def _click_stop(self, _button: W.Button) -> None:
        try:
            self.stop()
        except Exception as exc:  # noqa: BLE001
            self._show_exception("Stop failed", exc)

    def _on_update(self, run: Run, update: Update) -> None:
        """One interval of ``run``: everything shown comes with the update (nothing is read back
        from the run's record)."""
        if run is not self._run:
            return
        try:
            self.panel.show_update(update, run.state)
            self.offer.consider(update, run.spec)
            self.dashboard.update(update.snapshot)
            self.dashboard.update_extras(list(update.custom_rows), update.server_rows,
                                         update.workers)
        except Exception as exc:  # noqa: BLE001 - the load goes on; the error is shown
            self._show_exception("Updating the widget failed", exc)

    def _on_state(self, run: Run) -> None:
        if run is not self._run:
            return
        try:
            if run.done:
                self._finish(run)
                if self._again_in_worker:
                    self._again_in_worker = False
                    self.start()
            else:
                self.panel.show_state(run.state, run.spec)
        except Exception as exc:  # noqa: BLE001
            self._show_exception("Updating the widget failed", exc)
        finally:
            self._refresh_buttons()

    def _finish(self, run: Run) -> None:
        result = run.result
        self.panel.show_result(result, run.error)
        self.dashboard.finish(result)
        self._refresh_buttons()
        self.history.run_ended()
        self.sync()

    def _refresh_buttons(self) -> None:
        run, running = self._run, self.running
        live = None
        if running and run is not None:
            live = "users" if run.spec.rate is None else "rate"
        if self.controls.live != live:
            self.controls.set_running(live, None if run is None else run.spec)
        busy = self.capacity.busy
        self.start_button.disabled = running or busy or self.controls.error is not None
        self.stop_button.disabled = not (running or busy)
        self.capacity.refresh()

    def _say(self, text: str, level: str = "info") -> None:
        self.panel.say(text, level)

    def _show_exception(self, what: str, exc: BaseException) -> None:
        self.panel.show_exception(what, exc)


__all__ = ["LoadTest"]
