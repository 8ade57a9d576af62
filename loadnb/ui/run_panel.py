"""How a run looks in the widget: the progress bar with its state badge, the live line, the
status line, the alert area and the thresholds table.

:class:`RunPanel` only renders: it shows what an :class:`~loadnb.record.update.Update`, a run's
state or its final :class:`~loadnb.results.result.Result` says, in the words of
:mod:`loadnb.results.words` (the console says the same). :class:`~loadnb.ui.loadtest.LoadTest`,
the widget's public face, decides when.
"""

from __future__ import annotations

import traceback
from typing import Any

import ipywidgets as W

from ..charts import palette
from ..record.state import RunState
from ..record.update import Update
from ..results.result import Result
from ..results.words import STATES, done_line, load_text
from ..rules.alert_engine import AlertEvent
from ..spec.config import LoadSpec
from .alerts import alerts_html, thresholds_html
from .formatting import badge_html, html_details, html_line, metrics_html

_STYLE = {"description_width": "110px"}
_BARS = {"done": "success", "stopped": "warning", "failed": "danger"}


class RunPanel:
    """The widgets that show one run at a time (see the module docstring): ``buttons`` (Start,
    Stop) and ``widgets`` (bar, live line, status, alerts, thresholds), in their order on the
    page."""

    def __init__(self) -> None:
        self.start_button = W.Button(description="Start", button_style="success", icon="play",
                                     tooltip="Start a new run with these settings")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop",
                                    disabled=True, tooltip="Stop now: no new requests, "
                                    "requests in flight cancelled")
        #: Start and Stop, side by side.
        self.buttons = W.HBox([self.start_button, self.stop_button])
        self.progress = W.FloatProgress(value=0.0, min=0.0, max=100.0, description="Progress",
                                        bar_style="info", style=_STYLE,
                                        layout=W.Layout(width="100%", max_width="560px"))
        self.metrics = W.HTML(metrics_html(None, "idle"))
        #: The run's state in words and colour beside the progress bar (READY, RUNNING, DONE…):
        #: readable without an emoji font.
        self.badge = W.HTML(badge_html("idle"), layout=W.Layout(margin="0 0 0 8px"))
        self.status = W.HTML(html_line("Ready: press Start or call test.start().",
                                       color=palette.LEVELS["info"]))
        self.alert_area = W.HTML()
        #: The run's thresholds and their live pass/fail (hidden when the run has none).
        self.thresholds_area = W.HTML(layout=W.Layout(display="none"))
        bar = W.HBox([self.progress, self.badge], layout=W.Layout(align_items="center"))
        self.widgets: list[W.Widget] = [bar, self.metrics, self.status, self.alert_area,
                                        self.thresholds_area]

    def reset(self) -> None:
        """A new run: no alerts, no thresholds, an empty bar."""
        self.alert_area.value = ""
        self.show_thresholds([])
        self.progress.value, self.progress.bar_style = 0.0, "info"

    def show_update(self, update: Update, state: RunState) -> None:
        """One interval: the bar, the live line, the alerts and the thresholds so far."""
        snap = update.snapshot
        self.progress.value = min(100.0, max(0.0, snap.progress_percent))
        self.metrics.value = metrics_html(snap, state, update.iterations)
        self.show_alerts(update.alerts, update.warnings)
        self.show_thresholds(update.thresholds)

    def show_state(self, state: RunState, spec: LoadSpec) -> None:
        """A run of ``spec`` started or is stopping (a finished one: :meth:`show_result`)."""
        self.show_badge(state)
        if state == RunState.RUNNING:
            load, length = load_text(spec)
            live = "users slider" if spec.rate is None else "rate field"
            self.say(f"{STATES['running'].icon} Running: {load} for {length} against "
                     f"{spec.target} (the {live} changes the load live)", "info")
            self.metrics.value = metrics_html(None, "running")
        elif state == RunState.STOPPING:
            self.say(f"{STATES['stopping'].icon} Stopping: no new requests; requests in "
                     "flight are cancelled.", "warning")

    def show_result(self, result: Result, error: BaseException | None) -> None:
        """The run has ended: its state, its final line, its last alerts and thresholds."""
        state = str(result.state)
        self.progress.bar_style = _BARS.get(state, "info")
        self.show_badge(state)
        if state == "done":
            self.progress.value = 100.0
        last = result.snapshots[-1] if result.snapshots else None
        self.metrics.value = metrics_html(last, state, result.overall.iterations)
        if error is not None:
            self.show_exception("❌ The run failed", error)
        else:
            self.say(done_line(result.summary), "ok" if state == "done" else "warning")
        self.show_alerts(result.alert_events, result.warnings)  # the run's last words too
        self.show_thresholds(result.record.thresholds)

    def show_badge(self, state: str) -> None:
        value = badge_html(state)
        if self.badge.value != value:
            self.badge.value = value

    def say(self, text: str, level: str = "info") -> None:
        """A status line in the level's colour (``info``, ``ok``, ``warning``, ``error``)."""
        self.status.value = html_line(text, color=palette.LEVELS.get(level))

    def show_exception(self, what: str, exc: BaseException) -> None:
        """A status line with the exception, its traceback folded away."""
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.status.value = html_details(f"{what}: {type(exc).__name__}: {exc}", trace)

    def show_thresholds(self, thresholds: Any) -> None:
        value = thresholds_html(list(thresholds))
        if self.thresholds_area.value != value:
            self.thresholds_area.value = value
        display = None if value else "none"
        if self.thresholds_area.layout.display != display:
            self.thresholds_area.layout.display = display

    def show_alerts(self, alerts: Any, warnings: Any) -> None:
        events: list[AlertEvent] = list(alerts)
        value = alerts_html(events, list(warnings))
        if self.alert_area.value != value:
            self.alert_area.value = value


__all__ = ["RunPanel"]
