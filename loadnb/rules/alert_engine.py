"""The alert engine: rules, their events, and the one engine that judges them on every snapshot.

A rule looks at one :class:`~loadnb.metrics.snapshot.Snapshot` (its ``check``), or at the last
interval's stats (its ``on_interval``, given the engine's interval
:class:`~loadnb.rules.thresholds.View`), and returns a message while its condition holds (None when
all is well). The :class:`AlertEngine` turns that into events: a rule *fires* once its condition has
held for ``sustain`` judged snapshots in a row, and *clears* at the first one where it no longer
holds. Each fire lands once in the run record as an :class:`AlertEvent`, whose ``cleared_at`` is set
when it clears (None while active). Snapshots a rule does not judge (its ``applies`` is false, or
its ``on_interval`` says :data:`NOT_JUDGED`: e.g. an interval with no data for the metric) leave its
state as it is. The default rules are in :mod:`loadnb.rules.alerts`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, TypeAlias

from ..metrics.snapshot import Snapshot
from .thresholds import Threshold, View, parse_threshold


class _Judged(enum.Enum):
    NOT_JUDGED = "not judged"


#: What an ``on_interval`` check returns for an interval it has nothing to judge in.
NOT_JUDGED: Literal[_Judged.NOT_JUDGED] = _Judged.NOT_JUDGED
Check = Callable[[Snapshot], "str | None"]
#: What an ``on_interval`` check returns: the message, None (all is well), or NOT_JUDGED.
Verdict: TypeAlias = "str | None | Literal[_Judged.NOT_JUDGED]"
IntervalCheck = Callable[[View], Verdict]


def _always(snap: Snapshot) -> bool:
    return True


@dataclass(frozen=True)
class AlertRule:
    """A named condition on a snapshot, or on the interval it closes.

    ``check`` returns the message while the condition holds; ``sustain`` is how many snapshots
    in a row it must hold before the rule fires (``urgent``, when given and true, fires it at
    once); ``applies`` says which snapshots it judges (the others leave its state unchanged);
    ``on_event`` is called ``(event, "fired" | "cleared")`` when this rule fires or clears.
    ``on_interval``, when given, is judged instead of ``check``: it reads the last interval's
    stats (per name, merged, iterations, checks, custom metrics) and returns the message,
    None, or :data:`NOT_JUDGED`; ``expression`` is the threshold an expression rule was made of.

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
    on_interval: IntervalCheck | None = None

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

    An interval with no data for the metric is not judged. The message shows the value with the
    decimals that keep it on the side of the bound that broke it.
    """
    threshold = parse_threshold(expr)

    def judge(view: View) -> Verdict:
        value = threshold.observe(view)
        if value is None:
            return NOT_JUDGED
        if threshold.holds(value):
            return None
        return f"{threshold.expr} broken: {threshold.format(value)} in the last interval"

    return AlertRule(threshold.expr, _judged_by_the_engine, sustain, expression=threshold,
                     on_interval=judge)


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


#: One alert change of a snapshot: the rule, its event (as the engine keeps it) and ``"fired"`` or
#: ``"cleared"``.
AlertNews = tuple[AlertRule, AlertEvent, str]


@dataclass
class AlertEngine:
    """Evaluates every rule on every snapshot and returns what changed (:data:`AlertNews`): a
    fire appends an event to ``events`` (the engine's own list), a clear sets its ``cleared_at``.
    A rule that raises is dropped with a warning (told to ``warn``): a rule can never stop the
    load. Whoever drives the engine (the run's monitor) keeps the record and tells listeners."""

    rules: Sequence[AlertRule]
    events: list[AlertEvent] = field(default_factory=list)
    warn: Callable[[str], None] = lambda text: None
    interval: View | None = None
    _states: dict[str, _State] = field(default_factory=dict)
    _broken: set[str] = field(default_factory=set)

    def __call__(self, snap: Snapshot) -> list[AlertNews]:
        """Judge ``snap`` with every rule; the fires and clears it caused."""
        news: list[AlertNews] = []
        for rule in self.rules:
            if rule.name in self._broken:
                continue
            try:
                message = self._judge(rule, snap)
            except Exception as exc:  # noqa: BLE001 - a user's rule must not break the run
                self._broken.add(rule.name)
                self.warn(f"alert rule {rule.name!r} failed and was disabled: {exc!r}")
                continue
            if message is not NOT_JUDGED:
                news.extend(self._step(rule, snap, message))
        return news

    def _judge(self, rule: AlertRule, snap: Snapshot) -> Verdict:
        if not rule.applies(snap):
            return NOT_JUDGED
        if rule.on_interval is None:
            return rule.check(snap)
        if self.interval is None:
            return NOT_JUDGED
        return rule.on_interval(self.interval)

    def _step(self, rule: AlertRule, snap: Snapshot, message: str | None) -> list[AlertNews]:
        state = self._states.setdefault(rule.name, _State())
        if not message:
            state.streak = 0
            if state.event is None:
                return []
            state.event.cleared_at = snap.elapsed_time
            event, state.event = state.event, None
            return [(rule, event, "cleared")]
        state.streak += 1
        due = state.streak >= rule.sustain or (rule.urgent is not None and rule.urgent(snap))
        if state.event is None and due:
            state.event = AlertEvent(rule.name, str(message), snap.elapsed_time)
            self.events.append(state.event)
            return [(rule, state.event, "fired")]
        return []


__all__ = ["NOT_JUDGED", "AlertEngine", "AlertEvent", "AlertNews", "AlertRule", "Check",
           "IntervalCheck", "Listener", "Verdict", "as_rule", "as_rules", "expression_rule"]
