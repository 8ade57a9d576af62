"""Alert rules and the one engine that evaluates them on every snapshot.

A rule looks at one :class:`~loadnb.snapshot.Snapshot` and returns a message while its condition
holds (None when all is well). The :class:`AlertEngine` turns that into events: a rule *fires*
once its condition has held for ``sustain`` snapshots in a row, and *clears* at the first snapshot
where it no longer holds. Each fire lands once in the run record as an :class:`AlertEvent`, whose
``cleared_at`` is set when it clears (None while active). Snapshots a rule does not apply to (its
``applies``: e.g. generator rules skip the final snapshot, the RPS rule skips intervals with a live
change) leave its state as it is.

The defaults (:func:`default_rules`) are the brief's two (success rate below 90 %, RPS below 50 %
of the expected rate) and the generator-bottleneck rules (CPU, event-loop lag, dropped arrivals,
requests waiting for a connection), one limit each. Any callable ``(Snapshot) -> str | None`` is
accepted as a rule too (its ``__name__`` names it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .snapshot import Snapshot
from .thresholds import Threshold, View, parse_threshold

Check = Callable[[Snapshot], "str | None"]

#: The brief's success-rate alert: cumulative success rate below this (percent).
SUCCESS_LIMIT = 90.0
#: The brief's RPS alert: fewer responses per second than this share of the target rate.
RPS_FRACTION = 0.5
#: Process CPU (percent of one core) above which the generator counts as saturated.
CPU_LIMIT = 90.0
#: Event-loop lag (ms) above which requests are being delayed by the generator itself.
LAG_LIMIT_MS = 50.0
#: Intervals a generator condition must last before it fires (one busy tick is no bottleneck);
#: a lag five times the limit fires at once.
SUSTAIN = 2


def _always(snap: Snapshot) -> bool:
    return True


def _generating(snap: Snapshot) -> bool:
    """The load is being generated (not the final snapshot, whose interval is a partial one)."""
    return snap.phase != "done"


@dataclass(frozen=True)
class AlertRule:
    """A named condition on a snapshot.

    ``check`` returns the message while the condition holds; ``sustain`` is how many snapshots
    in a row it must hold before the rule fires (``urgent``, when given and true, fires it at
    once); ``applies`` says which snapshots it judges (the others leave its state unchanged);
    ``on_event`` is called ``(event, "fired" | "cleared")`` when this rule fires or clears.

    Example::

        slow = AlertRule("slow", lambda s: f"p99 {s.p99_ms:.0f} ms" if s.p99_ms > 500 else None)
        loadnb.run(url, users=10, alerts=[*loadnb.default_rules(), slow])
    """

    name: str
    check: Check
    sustain: int = 1
    applies: Callable[[Snapshot], bool] = _always
    urgent: Callable[[Snapshot], bool] | None = None
    expression: Threshold | None = None
    on_event: Callable[[AlertEvent, str], None] | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"an alert rule needs a name, got {self.name!r}")
        if not callable(self.check):
            raise ValueError(f"alert rule {self.name!r}: check must be callable")
        if isinstance(self.sustain, bool) or not isinstance(self.sustain, int) or self.sustain < 1:
            raise ValueError(f"alert rule {self.name!r}: sustain must be a whole number >= 1")


def _judged_by_the_engine(snap: Snapshot) -> str | None:
    return None


def expression_rule(expr: str | Threshold, sustain: int = 1) -> AlertRule:
    """A rule from a threshold expression, judged on each interval alone: it fires while the
    interval's value breaks the bound (``p99<500ms`` fires in intervals whose p99 is 500 ms or
    more; ``p95[GET /api]<300ms`` for one request name; ``checkout.p95<800ms`` a custom timing).

    An interval with no data for the metric is not judged.
    """
    threshold = parse_threshold(expr)
    return AlertRule(threshold.expr, _judged_by_the_engine, sustain, expression=threshold)


def as_rule(rule: object) -> AlertRule:
    """An :class:`AlertRule` from a rule, an expression (``"p99<500ms"``) or a plain callable
    ``(Snapshot) -> str | None``."""
    if isinstance(rule, AlertRule):
        return rule
    if isinstance(rule, str | Threshold):
        return expression_rule(rule)
    if callable(rule):
        return AlertRule(str(getattr(rule, "__name__", "alert")), rule)
    raise ValueError(f"an alert must be an AlertRule or a callable (Snapshot) -> str | None, "
                     f"got {type(rule).__name__}")


def as_rules(rules: Iterable[object]) -> tuple[AlertRule, ...]:
    """Rules from ``alerts=`` (rules or callables). A name given twice (two lambdas) gets a
    suffix (``<lambda>#2``), so every rule's events stay its own."""
    if isinstance(rules, str | bytes) or not isinstance(rules, Iterable):
        raise ValueError("alerts must be a list of AlertRule objects or callables")
    out: list[AlertRule] = []
    seen: set[str] = set()
    for rule in map(as_rule, rules):
        name, n = rule.name, 1
        while name in seen:
            n += 1
            name = f"{rule.name}#{n}"
        seen.add(name)
        out.append(rule if name == rule.name else replace(rule, name=name))
    return tuple(out)


@dataclass
class AlertEvent:
    """One fire of a rule: ``fired_at`` / ``cleared_at`` in elapsed seconds (None while active)."""

    rule: str
    message: str
    fired_at: float
    cleared_at: float | None = None

    @property
    def active(self) -> bool:
        """Whether the rule has not cleared (yet)."""
        return self.cleared_at is None

    def as_dict(self) -> dict[str, Any]:
        """``{"rule", "message", "fired_at", "cleared_at"}`` (JSON-ready)."""
        return asdict(self)


Listener = Callable[[AlertEvent, str], None]
"""Told ``(event, "fired" | "cleared")`` as it happens."""


@dataclass
class _State:
    streak: int = 0
    event: AlertEvent | None = None


@dataclass
class AlertEngine:
    """Evaluates every rule on every snapshot; appends fires to ``events`` (the run record's
    list) and sets ``cleared_at`` on clears. A rule that raises is dropped with a warning (told
    to ``warn``): a rule can never stop the load."""

    rules: Sequence[AlertRule]
    events: list[AlertEvent]
    warn: Callable[[str], None] = lambda text: None
    interval: View | None = None
    listeners: list[Listener] = field(default_factory=list)
    _states: dict[str, _State] = field(default_factory=dict)
    _broken: set[str] = field(default_factory=set)

    def __call__(self, snap: Snapshot) -> None:
        """Judge ``snap`` with every rule (the sink interface)."""
        for rule in self.rules:
            if rule.name in self._broken:
                continue
            try:
                if not rule.applies(snap):
                    continue
                if rule.expression is not None:
                    if self.interval is None:
                        continue
                    value = rule.expression.observe(self.interval)
                    if value is None:
                        continue
                    message = None if rule.expression.holds(value) else (
                        f"{rule.expression.expr} broken: "
                        f"{rule.expression.format(value)} in the last interval")
                else:
                    message = rule.check(snap)
            except Exception as exc:  # noqa: BLE001 - a user's rule must not break the run
                self._broken.add(rule.name)
                self.warn(f"alert rule {rule.name!r} failed and was disabled: {exc!r}")
                continue
            self._step(rule, snap, message)

    def _step(self, rule: AlertRule, snap: Snapshot, message: str | None) -> None:
        state = self._states.setdefault(rule.name, _State())
        if not message:
            state.streak = 0
            if state.event is not None:
                state.event.cleared_at = snap.elapsed_time
                self._tell(rule, state.event, "cleared")
                state.event = None
            return
        state.streak += 1
        due = state.streak >= rule.sustain or (rule.urgent is not None and rule.urgent(snap))
        if state.event is None and due:
            state.event = AlertEvent(rule.name, str(message), snap.elapsed_time)
            self.events.append(state.event)
            self._tell(rule, state.event, "fired")

    def _tell(self, rule: AlertRule, event: AlertEvent, what: str) -> None:
        extra = [] if rule.on_event is None else [rule.on_event]
        for fn in [*extra, *self.listeners]:
            try:
                fn(event, what)
            except Exception as exc:  # noqa: BLE001 - a face must not break the run
                if fn in self.listeners:
                    self.listeners.remove(fn)
                self.warn(f"alert listener {fn!r} failed: {exc!r}")


# -- the default rules -----------------------------------------------------------------------------
def low_success_rate(limit: float = SUCCESS_LIMIT) -> AlertRule:
    """Fires while the cumulative success rate is below ``limit`` percent (never while NaN)."""

    def check(snap: Snapshot) -> str | None:
        if snap.success_rate < limit:  # NaN compares False: no alert before any response
            return f"Low success rate: {snap.success_rate:.1f}% (below {limit:g}%)"
        return None

    return AlertRule("low_success_rate", check)


def _steady_open_interval(snap: Snapshot) -> bool:
    """A running open-model interval with no live change (it ran at one target rate)."""
    return (snap.phase == "running" and not snap.event and not math.isnan(snap.target_rate)
            and snap.target_rate > 0)


def low_rps(fraction: float = RPS_FRACTION) -> AlertRule:
    """Fires when the open model answers fewer than ``fraction`` of its target rate per second.

    The closed model has no expected rate, so the rule does not judge it; nor an interval in
    which the rate was changed live (it ran partly at the old rate), nor the final one.
    """

    def check(snap: Snapshot) -> str | None:
        if snap.current_rps < snap.target_rate * fraction:
            return (f"Low RPS: {snap.current_rps:.1f} req/s (target {snap.target_rate:.1f}; "
                    f"below {fraction:.0%} of it)")
        return None

    return AlertRule("low_rps", check, applies=_steady_open_interval)


def generator_cpu(limit: float = CPU_LIMIT) -> AlertRule:
    """Fires when loadnb's process uses more than ``limit`` % of a core for two intervals."""

    def check(snap: Snapshot) -> str | None:
        if snap.cpu_percent > limit:
            return (f"Generator bottleneck: loadnb's process used {snap.cpu_percent:.0f}% of a "
                    "CPU core, so the results may measure the generator rather than the target. "
                    "Lower the load or spread it over more processes.")
        return None

    return AlertRule("generator_cpu", check, sustain=SUSTAIN, applies=_generating)


def generator_lag(limit_ms: float = LAG_LIMIT_MS) -> AlertRule:
    """Fires when the generator's event loop is late by more than ``limit_ms`` for two
    intervals (at once when five times that)."""
    severe = 5 * limit_ms

    def check(snap: Snapshot) -> str | None:
        if snap.loop_lag_ms > limit_ms:
            return (f"Generator bottleneck: the event loop ran up to {snap.loop_lag_ms:.0f} ms "
                    "late, so requests were sent late and latencies include that delay. "
                    "Something in this process (a blocking call, another busy task) is "
                    "holding the loop.")
        return None

    return AlertRule("generator_lag", check, sustain=SUSTAIN, applies=_generating,
                     urgent=lambda snap: snap.loop_lag_ms > severe)


def dropped_arrivals(max_in_flight: int = 0) -> AlertRule:
    """Fires in every interval in which the open model dropped arrivals at ``max_in_flight``."""

    def check(snap: Snapshot) -> str | None:
        if snap.interval_dropped > 0:
            cap = f"{max_in_flight:,} were" if max_in_flight else "the cap was"
            return (f"Arrivals dropped: {snap.dropped_arrivals:,} requests were not sent "
                    f"because {cap} already in flight (max_in_flight). The target is slower "
                    "than the arrival rate, or max_in_flight is too low.")
        return None

    return AlertRule("dropped_arrivals", check)


def waiting_for_connection(pool_size: int = 0) -> AlertRule:
    """Fires when requests wait for a free pooled connection for two intervals."""

    def check(snap: Snapshot) -> str | None:
        waiting = snap.waiting_for_connection
        if waiting > 0:
            pool = f"pool of {pool_size:,}" if pool_size else "pool full"
            return (f"Requests are waiting for a free connection ({waiting:,} at once; {pool}): "
                    "latencies include that wait. Raise connections to match the load.")
        return None

    return AlertRule("waiting_for_connection", check, sustain=SUSTAIN, applies=_generating)


#: Error kinds of a request that got no HTTP response (the transport's; see ``transport.base``).
TRANSPORT_KINDS = frozenset({"timeout", "connection refused", "connection reset",
                             "invalid HTTP response", "incomplete body", "TLS error", "DNS error"})


def _failures_in_interval(snap: Snapshot) -> bool:
    return snap.interval_failed > 0


def target_down() -> AlertRule:
    """Fires while no request has succeeded yet and every failure of the interval has one
    transport error kind (``connection refused``, ``DNS error``, ``timeout``…): the target is
    down or unreachable, not merely slow or failing. Clears at the first success."""

    def check(snap: Snapshot) -> str | None:
        if snap.completed_requests or not snap.failed_requests:
            return None
        kinds = [k for k, n in snap.interval_errors.items() if n]
        if len(kinds) != 1 or kinds[0] not in TRANSPORT_KINDS:
            return None
        if kinds[0] == "connection refused":
            return "the target refused every connection"
        return f"every request failed: {kinds[0]}"

    return AlertRule("target_down", check, applies=_failures_in_interval)


def default_rules(*, pool_size: int = 0, max_in_flight: int = 0) -> list[AlertRule]:
    """A fresh list of the default rules (the target being down, the brief's two, then the
    generator's health)."""
    return [target_down(), low_success_rate(), low_rps(), generator_cpu(), generator_lag(),
            dropped_arrivals(max_in_flight), waiting_for_connection(pool_size)]


__all__ = ["AlertEngine", "AlertEvent", "AlertRule", "as_rule", "as_rules", "default_rules",
           "expression_rule",
           "dropped_arrivals", "generator_cpu", "generator_lag", "low_rps", "low_success_rate",
           "target_down", "waiting_for_connection"]
