"""Threshold expressions: ``p95<300ms``, ``errors<1%``, ``rps>500``, ``checkout.p95<800ms``, and
any of them for one request name: ``p95[GET /api/items/{id}]<300ms``.

One small language for thresholds (pass/fail of a run), SLOs and alert rules::

    threshold := metric [ "[" request-name "]" ] op number [unit]
    metric    := stat | custom-metric "." custom-stat
    stat      := p50 | p90 | p95 | p99 | p99.9 | p99.99 | max | mean     (latency; unit ms or s)
               | success | errors                                        (percent; unit %)
               | rps                                                     (answers per second)
               | requests | failed                                       (counts)
    custom-stat := p50 | p90 | p95 | p99 | max | mean   (timing; ms or s)
                 | total | rate | count | last | min | max | mean        (counter, gauge)
    op        := < | <= | > | >=

A request name is everything between the brackets (slashes, braces and spaces included; write
``\\]`` for a ``]`` in a name). Latency bounds need a unit (``ms`` or ``s``) and success/errors a
``%``, so ``errors<1`` (1 what?) is refused. A threshold judges the whole run so far (cumulative
values); an alert rule with the same expression judges each interval. A metric with no data (no
answer yet, an unknown request name) is not observed: a threshold on it does not pass.

>>> t = parse_threshold("p95[/api/items/{id}] < 300ms")
>>> (t.stat, t.name, t.op, t.bound)
('p95', '/api/items/{id}', '<', 300.0)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from .metrics import CustomMetric, IntervalStats

LATENCY_STATS = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9,
                 "p99.99": 99.99, "max": 100.0, "mean": -1.0}
RATE_STATS = ("success", "errors")
COUNT_STATS = ("requests", "failed")
CUSTOM_STATS = ("p50", "p90", "p95", "p99", "max", "mean", "total", "rate", "count", "last",
                "min")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_HEAD = re.compile(r"\s*(?P<metric>[A-Za-z_][\w.\-]*?)\s*(?=\[|<|>|$)")
_TAIL = re.compile(r"\s*(?P<op><=|>=|<|>)\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)"
                   r"\s*(?P<unit>ms|s|%|/s)?\s*$", re.IGNORECASE)


class View(Protocol):
    """What a threshold reads: a run so far, or one interval."""

    @property
    def duration(self) -> float: ...

    def stats(self, name: str | None) -> IntervalStats | None: ...

    def custom(self, metric: str) -> CustomMetric | None: ...


@dataclass(frozen=True)
class Threshold:
    """One parsed expression (build it with :func:`parse_threshold`).

    ``bound`` is in the metric's unit: milliseconds for latency and timings, percent for
    success/errors, per second for rates, plain numbers otherwise.
    """

    expr: str
    stat: str
    op: str
    bound: float
    name: str | None = None
    custom: str | None = None

    def observe(self, view: View) -> float | None:
        """The metric's value in ``view`` (None when there is no data for it)."""
        if self.custom is not None:
            metric = view.custom(self.custom)
            return None if metric is None or metric.count == 0 else _custom_value(
                metric, self.stat, view.duration)
        stats = view.stats(self.name)
        if stats is None:
            return None
        return _builtin_value(stats, self.stat, view.duration)

    @property
    def unit(self) -> str:
        """The unit of observed values and of ``bound``: ``ms``, ``%``, ``req/s`` or ``""``."""
        if self.custom is None:
            if self.stat in LATENCY_STATS:
                return "ms"
            return {"success": "%", "errors": "%", "rps": "req/s"}.get(self.stat, "")
        if self.stat.startswith("p"):
            return "ms"
        return "/s" if self.stat == "rate" else ""

    def format(self, value: float | None) -> str:
        """An observed value with its unit (``"—"`` when not observed)."""
        if value is None:
            return "—"
        text = f"{value:,.3f}".rstrip("0").rstrip(".")
        unit = self.unit
        return f"{text}{unit}" if unit in ("ms", "%") else f"{text} {unit}".rstrip()

    def holds(self, value: float | None) -> bool:
        """Whether an observed value meets the bound (an unobserved one does not)."""
        return value is not None and _OPS[self.op](value, self.bound)

    def judge(self, view: View) -> dict[str, object]:
        """``{"expr", "observed", "passed"}`` for ``view``."""
        value = self.observe(view)
        return {"expr": self.expr, "observed": None if value is None else round(value, 6),
                "passed": self.holds(value)}


def _builtin_value(stats: IntervalStats, stat: str, duration: float) -> float | None:
    answered = stats.completed + stats.failed
    if stat in LATENCY_STATS:
        if stats.latency.total == 0:
            return None
        if stat == "mean":
            return stats.latency.mean * 1e3
        return stats.latency.percentile(LATENCY_STATS[stat]) * 1e3
    if stat in RATE_STATS:
        if answered == 0:
            return None
        share = stats.completed if stat == "success" else stats.failed
        return 100.0 * share / answered
    if stat == "rps":
        return answered / duration if duration > 0 else None
    if stat == "requests":
        return float(stats.completed + stats.failed + stats.cancelled)
    return float(stats.failed)


def _custom_value(metric: CustomMetric, stat: str, duration: float) -> float | None:
    if metric.kind == "timing":
        if stat == "mean":
            return metric.hist.mean * 1e3
        if stat in LATENCY_STATS:
            return metric.hist.percentile(LATENCY_STATS[stat]) * 1e3
        if stat == "count":
            return float(metric.hist.total)
        raise ValueError(f"{stat!r} does not apply to a timing ({metric.name})")
    values = {"total": metric.total, "count": float(metric.count), "last": metric.last,
              "min": metric.min, "max": metric.max, "mean": metric.mean,
              "rate": metric.total / duration if duration > 0 else math.nan}
    if stat not in values:
        raise ValueError(f"{stat!r} does not apply to a {metric.kind} ({metric.name})")
    value = values[stat]
    return None if math.isnan(value) else value


def _split_name(text: str, expr: str) -> tuple[str | None, str]:
    """``[name]rest`` → ``(name, rest)``; ``\\]`` inside the brackets is a ``]``."""
    if not text.startswith("["):
        return None, text
    out, i = [], 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "]\\":
            out.append(text[i + 1])
            i += 2
            continue
        if c == "]":
            name = "".join(out)
            if not name.strip():
                raise ValueError(f"threshold {expr!r}: the request name in [] is empty")
            return name, text[i + 1:]
        out.append(c)
        i += 1
    raise ValueError(f"threshold {expr!r}: the request name has no closing ]")


def _check_unit(expr: str, stat: str, custom: bool, unit: str, value: float) -> float:
    """The bound in the metric's unit (ms for times); refuse units that do not fit."""
    to_ms = {"ms": 1.0, "s": 1000.0}
    percentile = stat.startswith("p")
    if (not custom and stat in LATENCY_STATS) or (custom and percentile):
        if unit not in to_ms:
            raise ValueError(f"threshold {expr!r}: a time bound needs a unit, e.g. 300ms or 1s")
        return value * to_ms[unit]
    if custom and unit in to_ms and stat in ("max", "mean", "min", "last"):
        return value * to_ms[unit]  # a timing's max or mean
    if not custom and stat in RATE_STATS:
        if unit != "%":
            raise ValueError(f"threshold {expr!r}: {stat} is a percentage, e.g. {stat}<1%")
        return value
    if unit == "/s" and stat in ("rps", "rate"):
        return value
    if unit:
        raise ValueError(f"threshold {expr!r}: {stat} takes no unit {unit!r}")
    return value


def parse_threshold(expr: object) -> Threshold:
    """Parse one expression; raise ``ValueError`` naming it and what is wrong."""
    if isinstance(expr, Threshold):
        return expr
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"a threshold must be an expression like 'p95<300ms', got {expr!r}")
    text = expr.strip()
    head = _HEAD.match(text)
    if head is None:
        raise ValueError(f"threshold {expr!r}: expected METRIC[NAME] OP VALUE, e.g. p95<300ms")
    metric = head.group("metric")
    name, rest = _split_name(text[head.end():].lstrip(), expr)
    tail = _TAIL.fullmatch(rest)
    if tail is None:
        raise ValueError(f"threshold {expr!r}: expected an operator (<, <=, >, >=) and a number "
                         "with its unit after the metric, e.g. p95<300ms, errors<1%, rps>500")
    custom, stat = _metric(metric, expr)
    value = float(tail.group("num"))
    if not math.isfinite(value):
        raise ValueError(f"threshold {expr!r}: the bound must be a finite number")
    unit = (tail.group("unit") or "").lower()
    bound = _check_unit(expr, stat, custom is not None, unit, value)
    if custom is not None and name is not None:
        raise ValueError(f"threshold {expr!r}: custom metrics are not per request name")
    return Threshold(text, stat, tail.group("op"), bound, name, custom)


def _metric(metric: str, expr: str) -> tuple[str | None, str]:
    lowered = metric.lower()
    if lowered in LATENCY_STATS or lowered in RATE_STATS or lowered in COUNT_STATS or \
            lowered == "rps":
        return None, lowered
    custom, dot, stat = metric.rpartition(".")
    if dot and custom and stat.lower() in CUSTOM_STATS:
        return custom, stat.lower()
    known = ", ".join([*LATENCY_STATS, *RATE_STATS, "rps", *COUNT_STATS])
    raise ValueError(f"threshold {expr!r}: unknown metric {metric!r} (known: {known}; or a "
                     "custom metric as NAME.STAT, e.g. checkout.p95)")


def parse_thresholds(exprs: Iterable[object] | None) -> tuple[Threshold, ...]:
    """Every expression of ``exprs`` parsed (a single string is one expression)."""
    if exprs is None:
        return ()
    if isinstance(exprs, str | Threshold):
        exprs = [exprs]
    return tuple(parse_threshold(e) for e in exprs)


__all__ = ["Threshold", "View", "parse_threshold", "parse_thresholds"]
