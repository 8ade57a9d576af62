"""Alert callables: each looks at one snapshot and returns a warning text or None.

This is a seam, not a rules engine: ``LoadTest(alerts=[...])`` takes any callables
``(Snapshot) -> str | None``; the widget shows the texts they return (and the run's own warnings).
The defaults are the brief's two alerts (low success rate, low RPS) plus generator health.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable

from ..snapshot import Snapshot

Alert = Callable[[Snapshot], "str | None"]
"""An alert: looks at one snapshot, returns a warning text (or None when all is well)."""
WARNING_COLOR = "#8a5300"


def low_success_rate(threshold: float = 90.0) -> Alert:
    """Warn while the (cumulative) success rate is below ``threshold`` percent (never when NaN)."""

    def check(snap: Snapshot) -> str | None:
        if snap.success_rate < threshold:  # NaN compares False: no alert before any response
            return f"⚠️ Low success rate: {snap.success_rate:.1f}% (below {threshold:g}%)"
        return None

    check.__name__ = "low_success_rate"
    return check


def low_rps(fraction: float = 0.5) -> Alert:
    """Warn when the open model delivers less than ``fraction`` of its target rate.

    The closed model (users) has no expected rate, so this stays quiet there; so does an
    interval in which the rate was changed live (it ran partly at the old rate).
    """

    def check(snap: Snapshot) -> str | None:
        target = snap.target_rate
        if snap.phase != "running" or math.isnan(target) or target <= 0 or snap.event:
            return None
        if snap.current_rps < target * fraction:
            return (f"⚠️ Low RPS: {snap.current_rps:.1f} req/s "
                    f"(target {target:.1f}; below {fraction:.0%} of it)")
        return None

    check.__name__ = "low_rps"
    return check


def loop_lag(limit_ms: float = 200.0) -> Alert:
    """Warn when the event loop running the load is late by more than ``limit_ms``.

    A busy notebook kernel (a synchronous cell, heavy plotting) delays requests and skews numbers.
    """

    def check(snap: Snapshot) -> str | None:
        if snap.loop_lag_ms > limit_ms:
            return (f"⚠️ Generator overloaded: event-loop lag {snap.loop_lag_ms:.0f} ms "
                    "(latencies include this delay)")
        return None

    check.__name__ = "loop_lag"
    return check


def dropped_arrivals() -> Alert:
    """Warn when the open model drops arrivals (``max_in_flight`` reached)."""

    def check(snap: Snapshot) -> str | None:
        if snap.dropped_arrivals > 0:
            return (f"⚠️ {snap.dropped_arrivals:,} arrivals dropped: max_in_flight reached "
                    "(the server is slower than the offered rate)")
        return None

    check.__name__ = "dropped_arrivals"
    return check


def default_alerts() -> list[Alert]:
    """A fresh list of the default alerts."""
    return [low_success_rate(), low_rps(), loop_lag(), dropped_arrivals()]


def evaluate(alerts: list[Alert], snap: Snapshot) -> tuple[dict[int, str], list[str]]:
    """Run every alert on ``snap``: ``({index: text} of those firing, failures)``.

    An alert that raises does not stop the others; its error is returned as a failure text.
    """
    firing: dict[int, str] = {}
    failures: list[str] = []
    for index, alert in enumerate(alerts):
        try:
            text = alert(snap)
        except Exception as exc:  # noqa: BLE001 - a user's alert must not break the widget
            failures.append(f"alert {getattr(alert, '__name__', alert)!r} failed: {exc!r}")
            continue
        if text:
            firing[index] = text
    return firing, failures


class AlertLog:
    """What the widget's alert area shows for one run: the alerts firing now, those that fired
    earlier (with how many intervals), failing alerts, and the run's own warnings.

    Example::

        log = AlertLog()
        log.check(default_alerts(), snap)       # every snapshot
        area.value = log.html(run.warnings)
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget everything (a new run starts)."""
        self.hits: dict[int, tuple[str, int]] = {}
        self.failures: list[str] = []
        self.firing: set[int] = set()

    def check(self, alerts: list[Alert], snap: Snapshot) -> None:
        """Run every alert on ``snap`` and keep what fired."""
        firing, failures = evaluate(alerts, snap)
        for index, text in firing.items():
            self.hits[index] = (text, self.hits.get(index, ("", 0))[1] + 1)
        self.firing = set(firing)
        self.failures += [f for f in failures if f not in self.failures]

    def html(self, warnings: list[str]) -> str:
        """The alert area's HTML ("" when there is nothing to say)."""
        lines = []
        for index, (text, count) in sorted(self.hits.items()):
            now = index in self.firing
            times = f" ({count} intervals)" if count > 1 else ""
            style = "font-weight:600" if now else "opacity:0.75"
            lines.append(f"<div style='{style}'>{html.escape(text)}{times}"
                         f"{'' if now else ' — earlier in the run'}</div>")
        lines += [f"<div>⚠️ {html.escape(w)}</div>" for w in [*warnings, *self.failures]]
        body = "".join(lines)
        return (f"<div style='color:{WARNING_COLOR};background:#fff8e1;padding:4px 8px;"
                f"border-left:3px solid #f0a000'>{body}</div>") if body else ""
