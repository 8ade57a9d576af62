"""Threshold expressions: ``p95<300ms``, ``errors<1%``, ``rps>500``, ``checkout.p95<800ms``, and
any of them for one request name: ``p95[GET /api/items/{id}]<300ms``.

One small language for thresholds (pass/fail of a run), SLOs and alert rules::

    threshold := metric [ "[" name "]" ] op number [unit]
    metric    := stat | custom-metric "." custom-stat
    stat      := p50 | p90 | p95 | p99 | p99.9 | p99.99 | max | mean     (latency; a time unit)
               | success | errors                                        (percent; unit %)
               | rps                                                     (answers per second)
               | requests | failed                                       (counts)
               | iterations                                   (scenario iterations; a count)
               | iterations_failed            (failed iterations: a count, or with % a share)
               | checks                              (share of check passes; unit %)
               | messages_sent | messages_received   (message streams; counts)
               | connections | connections_failed    (message streams' connections; counts)
         | "server." metric [ "{" labels "}" ]   (the target's series, ``scrape=``/``watch_pid=``)
    custom-stat := p50 | p90 | p95 | p99 | max | mean   (timing; a time unit)
                 | total | rate | count | last | min | max | mean        (counter, gauge)
    op        := < | <= | > | >=
    time unit := ms | s | sec | m | min | h            (as durations elsewhere)

The name between the brackets is a request name, a scenario task's for ``iterations`` and
``iterations_failed``, a check's for ``checks``: everything between the brackets (slashes, braces
and spaces included; write ``\\]`` for a ``]`` in a name); a latency stat on a message stream's
name (``p95[echo]<50ms``) judges its request–reply latency
(:mod:`~loadnb.rules.thresholds_messages`). Latency bounds need a time unit and
success/errors/checks a ``%``, so ``errors<1`` (1 what?) is refused; so are bounds that cannot
mean anything (a negative time, count or rate, a percentage outside 0-100). A threshold judges the
whole run so far (cumulative values); an alert rule with the same expression judges each
interval. A metric with no data (no answer yet, an unknown request name, no iteration, no check)
is not observed: a threshold on it does not pass.

A ``server.<metric>`` threshold reads the target's series (counters as per-second rates, gauges
as read): every label set of the metric added up, or the one named with ``{labels}``; over the run
so far, each series' mean over the intervals it has values in (added up); in an alert rule, the
last interval's values. ``server.process_cpu_seconds_total<0.9``: the target used less than 0.9
of a core on average.

>>> t = parse_threshold("p95[/api/items/{id}] < 300ms")
>>> (t.stat, t.name, t.op, t.bound)
('p95', '/api/items/{id}', '<', 300.0)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..metrics.custom import CustomMetric
from ..metrics.messages import MessageStats
from ..metrics.stats import IntervalStats
from ..text.numbers import bounded, decimals
from ..text.units import TIME_UNITS
from .thresholds_messages import MESSAGE_STATS, message_value, reply_value

LATENCY_STATS = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9,
                 "p99.99": 99.99, "max": 100.0, "mean": -1.0}
RATE_STATS = ("success", "errors")
COUNT_STATS = ("requests", "failed")
#: Stats of scenario iterations and checks (read on the merged stats: a name is a task or check).
ITERATION_STATS = ("iterations", "iterations_failed", "checks")
CUSTOM_STATS = ("p50", "p90", "p95", "p99", "max", "mean", "total", "rate", "count", "last",
                "min")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_HEAD = re.compile(r"\s*(?P<metric>[A-Za-z_][\w.\-]*?)\s*(?=\[|<|>|$)")
_TAIL = re.compile(r"\s*(?P<op><=|>=|<|>)\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)"
                   r"\s*(?P<unit>%|/s|[^\W\d_]+)?\s*$", re.IGNORECASE)
_SERVER = re.compile(r"server\.(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:.]*)\s*"
                     r"(?P<labels>\{[^{}]*\})?\s*(?P<op><=|>=|<|>)\s*"
                     r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(?P<unit>%|/s|[^\W\d_]+)?\s*",
                     re.IGNORECASE)
_TIME_UNITS = ", ".join(list(TIME_UNITS)[:-1]) + " or " + list(TIME_UNITS)[-1]


class View(Protocol):
    """What a threshold reads: a run so far, or one interval."""

    @property
    def duration(self) -> float: ...

    def stats(self, name: str | None) -> IntervalStats | None: ...

    def tallies(self) -> IntervalStats:
        """Every name's scenario iterations, their failure kinds and checks, added up (only
        those fields: no histograms to merge)."""
        ...

    def custom(self, metric: str) -> CustomMetric | None: ...

    def messages(self) -> Mapping[str, MessageStats]:
        """The message streams (WebSocket, SSE) by name."""

    def workers(self) -> Sequence[tuple[Any, ...]]:
        """Each worker process's row (a run on Dask; none otherwise): ``worker, elapsed_time,
        requests, rps, loop_lag_ms, cpu_percent, lost``."""
        ...

    def server(self, series: str) -> float | None:
        """The target's series ``server.<metric>`` (every label set of it added up) or
        ``server.<metric>{labels}`` (that one): None when it has no value."""
        ...


@dataclass(frozen=True)
class Threshold:
    """One parsed expression (build it with :func:`parse_threshold`).

    ``bound`` is in the metric's unit: milliseconds for latency and timings, percent for
    success/errors/checks (and ``iterations_failed`` with ``percent``), per second for rates,
    plain numbers otherwise.
    """

    expr: str
    stat: str
    op: str
    bound: float
    name: str | None = None
    custom: str | None = None
    #: ``iterations_failed`` as a share of the iterations (written with ``%``), not a count
    percent: bool = False
    #: the target's series (``server.<metric>`` or ``server.<metric>{labels}``), if on one
    server: str | None = None

    def observe(self, view: View) -> float | None:
        """The metric's value in ``view`` (None when there is no data for it)."""
        if self.server is not None:
            return view.server(self.server)
        if self.custom is not None:
            metric = view.custom(self.custom)
            return None if metric is None or metric.count == 0 else _custom_value(
                metric, self.stat, view.duration)
        if self.stat in ITERATION_STATS:
            return _iteration_value(view.tallies(), self.stat, self.name, self.percent)
        if self.stat in MESSAGE_STATS:
            return message_value(view.messages(), self.stat, self.name)
        stats = view.stats(self.name)
        if stats is None:
            stream = None if self.name is None else view.messages().get(self.name)
            if stream is not None and self.stat in LATENCY_STATS:
                return reply_value(stream, LATENCY_STATS[self.stat])
            return None
        return _builtin_value(stats, self.stat, view.duration)

    @property
    def unit(self) -> str:
        """The unit of observed values and of ``bound``: ``ms``, ``%``, ``req/s`` or ``""``."""
        if self.server is not None:
            return ""
        if self.custom is None:
            if self.stat in LATENCY_STATS:
                return "ms"
            if self.percent:
                return "%"
            return {"success": "%", "errors": "%", "checks": "%", "rps": "req/s"}.get(
                self.stat, "")
        if self.stat.startswith("p"):
            return "ms"
        return "/s" if self.stat == "rate" else ""

    def format(self, value: float | None) -> str:
        """An observed value with its unit (``"—"`` when not observed), with the decimals that
        keep it on its side of the bound (``p99<=500ms`` broken by 500.0004 shows that, not 500).
        """
        if value is None:
            return "—"
        text = bounded(value, self.bound, 3)
        text = text.rstrip("0").rstrip(".") if "." in text else text
        unit = self.unit
        return f"{text}{unit}" if unit in ("ms", "%") else f"{text} {unit}".rstrip()

    def holds(self, value: float | None) -> bool:
        """Whether an observed value meets the bound (an unobserved one does not)."""
        return value is not None and _OPS[self.op](value, self.bound)

    def judge(self, view: View) -> dict[str, object]:
        """``{"expr", "observed", "passed"}`` for ``view``."""
        value = self.observe(view)
        return {"expr": self.expr, "observed": self.rounded(value), "passed": self.holds(value)}

    def rounded(self, value: float | None) -> float | None:
        """``value`` rounded to 6 decimals, or more when 6 would move it across the bound."""
        return None if value is None else round(value, decimals(value, self.bound, 6))


def _iteration_value(merged: IntervalStats, stat: str, name: str | None,
                     percent: bool) -> float | None:
    """Iterations, failed iterations (or their share) of every task or of task ``name``; the
    share of check passes of every check or of check ``name``."""
    counts = merged.checks if stat == "checks" else merged.iterations
    parts = list(counts.values()) if name is None else [counts[name]] if name in counts else []
    total = sum(p[0] + p[1] if stat == "checks" else p[0] for p in parts)
    if not parts or (total == 0 and (percent or stat == "checks")):
        return None
    if stat == "iterations":
        return float(total)
    hits = sum(p[0] if stat == "checks" else p[1] for p in parts)
    return 100.0 * hits / total if percent or stat == "checks" else float(hits)


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


_EXAMPLES = {"success": "success>99%", "errors": "errors<1%", "checks": "checks>99%"}


def _check_unit(expr: str, stat: str, custom: bool, unit: str,
                value: float) -> tuple[float, str]:
    """The bound in the metric's unit (ms for times) and what kind of bound it is (``latency``,
    ``time``, ``percent``, ``rate``, ``count`` or ``""``); refuse units that do not fit."""
    percentile = stat.startswith("p")
    timed = (not custom and stat in LATENCY_STATS) or (custom and percentile) or (
        custom and stat in ("max", "mean", "min", "last") and unit in TIME_UNITS)
    if timed:
        if not unit:
            raise ValueError(f"threshold {expr!r}: a time bound needs a unit, e.g. 300ms or 1s")
        if unit not in TIME_UNITS:
            raise ValueError(f"threshold {expr!r}: a time bound's unit is {_TIME_UNITS}, "
                             f"got {unit!r}")
        return value * TIME_UNITS[unit] * 1e3, "time" if custom else "latency"
    if not custom and stat in (*RATE_STATS, "checks"):
        if unit != "%":
            raise ValueError(f"threshold {expr!r}: {stat} is a percentage, e.g. "
                             f"{_EXAMPLES[stat]}")
        return value, "percent"
    if unit == "%" and stat == "iterations_failed":
        return value, "percent"
    if unit and not (unit == "/s" and stat in ("rps", "rate")):
        raise ValueError(f"threshold {expr!r}: {stat} takes no unit {unit!r}")
    if stat == "rps":
        return value, "rate"
    counted = not custom and (stat in (*COUNT_STATS, *ITERATION_STATS, *MESSAGE_STATS))
    return value, "count" if counted or stat == "count" else ""


def _check_range(expr: str, kind: str, value: float) -> None:
    """Refuse a bound no value can be measured against: a negative time, count or rate, a
    percentage outside 0-100."""
    if kind == "percent" and not 0.0 <= value <= 100.0:
        raise ValueError(f"threshold {expr!r}: a percentage is between 0 and 100, got {value:g}")
    if kind not in ("percent", "") and value < 0:
        raise ValueError(f"threshold {expr!r}: a {kind} bound cannot be negative")


def parse_threshold(expr: object) -> Threshold:
    """Parse one expression; raise ``ValueError`` naming it and what is wrong."""
    if isinstance(expr, Threshold):
        return expr
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"a threshold must be an expression like 'p95<300ms', got {expr!r}")
    text = expr.strip()
    server = _SERVER.fullmatch(text)
    if server is not None:
        return _server_threshold(text, server)
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
    bound, kind = _check_unit(expr, stat, custom is not None, unit, value)
    _check_range(expr, kind, value)
    if custom is not None and name is not None:
        raise ValueError(f"threshold {expr!r}: custom metrics are not per request name")
    percent = stat == "iterations_failed" and kind == "percent"
    return Threshold(text, stat, tail.group("op"), bound, name, custom, percent)


def _server_threshold(text: str, m: re.Match[str]) -> Threshold:
    """``server.<metric>[{labels}] OP NUMBER``: the target's series, a plain number (counters
    are per-second rates, gauges as read)."""
    unit = (m.group("unit") or "").lower()
    if unit not in ("", "/s"):
        raise ValueError(f"threshold {text!r}: a server metric takes no unit {unit!r} (counters "
                         "are per-second rates, gauges as the target gives them)")
    value = float(m.group("num"))
    if not math.isfinite(value):
        raise ValueError(f"threshold {text!r}: the bound must be a finite number")
    series = "server." + m.group("metric") + (m.group("labels") or "")
    return Threshold(text, "server", m.group("op"), value, server=series)


def _metric(metric: str, expr: str) -> tuple[str | None, str]:
    lowered = metric.lower()
    if lowered in (*LATENCY_STATS, *RATE_STATS, *COUNT_STATS, *ITERATION_STATS, *MESSAGE_STATS,
                   "rps"):
        return None, lowered
    custom, dot, stat = metric.rpartition(".")
    if dot and custom and stat.lower() in CUSTOM_STATS:
        return custom, stat.lower()
    known = ", ".join([*LATENCY_STATS, *RATE_STATS, "rps", *COUNT_STATS, *ITERATION_STATS,
                       *MESSAGE_STATS])
    raise ValueError(f"threshold {expr!r}: unknown metric {metric!r} (known: {known}; or a "
                     "custom metric as NAME.STAT, e.g. checkout.p95)")


def parse_thresholds(exprs: Iterable[object] | None) -> tuple[Threshold, ...]:
    """Every expression of ``exprs`` parsed (a single string is one expression)."""
    if exprs is None:
        return ()
    if isinstance(exprs, str | Threshold):
        exprs = [exprs]
    return tuple(parse_threshold(e) for e in exprs)


__all__ = ["LATENCY_STATS", "Threshold", "View", "parse_threshold", "parse_thresholds"]
