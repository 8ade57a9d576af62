"""Find the capacity: the highest arrival rate a target serves within an SLO.

:func:`acapacity` (``await`` it in a notebook) and :func:`capacity` (blocking) drive the **open
model** in steps, each an ordinary :class:`~loadnb.runner.run.Run` (so history and alerts apply) of
``step_duration`` at one offered rate, judged on the whole step by the SLO (threshold expressions,
:mod:`loadnb.rules.thresholds`)::

    cap = await loadnb.acapacity(url, slo=["p99<200ms", "errors<1%"], step_duration="5s")
    cap.capacity_rps, cap.limited_by, cap.bracket, cap.steps

The search raises the rate geometrically (``start_rate``, times ``factor``) until a step is
**overloaded**, then bisects between the last good and the first bad rate until they are within
``resolution`` (5 %) of each other; ``cooldown`` seconds between steps let queues drain. A step is
overloaded when it breaks the SLO *or* its latency kept growing through it
(:func:`latency_grew`: a queue building up passes a p99 bound for a short while). The search
stops, and ``limited_by`` says why:

- ``"slo"``: the bracket is narrow enough; ``capacity_rps`` is its good end;
- ``"generator"``: the generator, not the target, was the bottleneck in a step: a generator alert
  fired (``generator_cpu``, ``generator_lag``; ``dropped_arrivals`` unless the step was
  overloaded, whose queue fills ``max_in_flight``), or a step met the SLO while answering less
  than 90 % of the offered rate. ``capacity_rps`` is then None (the bracket keeps the last good);
- ``"max_rate"``: ``max_rate`` met the SLO; ``capacity_rps`` is a lower bound, ``max_rate``;
- ``"max_steps"``: ``max_steps`` ran out first; ``capacity_rps`` is the best good rate so far.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import types
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..engine.loop import run_to_end
from ..results.result import Result
from ..rules.thresholds import LATENCY_STATS, Threshold, parse_thresholds
from ..runner.run import Run
from ..spec.config import spec_of
from ..text import numbers
from ..text.units import parse_duration

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.plotting import figure

#: Generator alert rules: when one fires in a step, the step measured the generator (also when
#: only some of a run's Dask workers were saturated: their share of the load was sent late).
GENERATOR_RULES = ("generator_cpu", "generator_lag", "dropped_arrivals", "worker_saturated")
#: A step that met the SLO but answered less than this share of the offered rate was not driven.
ACHIEVED_SHARE = 0.9
#: Latency grew when it rose by more than this share of the SLO's latency bound within a step.
GROWTH_SHARE = 0.25
MIN_GROWTH_MS = 1.0  # without a bound: less is a shared host's scheduling noise, not a queue
STEP_COLUMNS = ("offered_rps", "achieved_rps", "p50_ms", "p90_ms", "p99_ms", "error_rate",
                "latency_grew", "passed")


def latency_grew(p50s: Sequence[float], bound_ms: float | None = None) -> bool:
    """Whether per-interval p50s (in time order) show a queue building up through a step.

    Robust rule: with ``k`` = a third of the finite values (at least 1; fewer than 4 values never
    grow), the median of the last ``k`` must exceed the median of the first ``k`` (the level) by
    more than a limit, *and* the Theil–Sen slope (median of the pairwise slopes, so a single spike
    does not count) times the span must too. The limit is ``GROWTH_SHARE`` (a quarter) of the
    SLO's latency bound ``bound_ms``, or less when the level is low: the level itself (latency
    doubled), but never under 5 % of the bound. Without a bound it is a quarter of the level,
    but never under ``MIN_GROWTH_MS`` (1 ms).

    >>> latency_grew([20, 30, 41, 52, 63, 75], bound_ms=200)
    True
    >>> latency_grew([20, 22, 19, 21, 80, 20], bound_ms=200)
    False
    >>> latency_grew([10, 12, 18, 23, 29, 34], bound_ms=200)  # doubled from a low level
    True
    """
    vals = [float(v) for v in p50s if v is not None and math.isfinite(v)]
    n = len(vals)
    if n < 4:
        return False
    k = max(1, n // 3)
    first, last = statistics.median(vals[:k]), statistics.median(vals[-k:])
    if bound_ms:
        limit = min(GROWTH_SHARE * bound_ms, max(first, 0.05 * bound_ms))
    else:
        limit = max(GROWTH_SHARE * first, MIN_GROWTH_MS)
    slopes = [(vals[j] - vals[i]) / (j - i) for i in range(n) for j in range(i + 1, n)]
    return last - first > limit and statistics.median(slopes) * (n - 1) > limit


def latency_bound(slo: Sequence[Threshold]) -> float | None:
    """The tightest upper latency bound (ms) of the SLO on all requests, if any."""
    bounds = [t.bound for t in slo if t.custom is None and t.name is None
              and t.stat in LATENCY_STATS and t.op in ("<", "<=")]
    return min(bounds) if bounds else None


def judge_step(result: Result, offered: float, bound_ms: float | None) -> dict[str, Any]:
    """One step's row: figures, whether its latency grew, passed, and ``generator`` (bound)."""
    s = result.summary
    lat = s["latency_ms"]
    answered = s["completed_requests"] + s["failed_requests"]
    p50s = [snap.p50_ms for snap in result.snapshots
            if snap.phase == "running" and snap.interval_requests > 0]
    grew = latency_grew(p50s, bound_ms)
    slo_ok = bool(s["thresholds"]) and all(t["passed"] for t in s["thresholds"])
    passed = slo_ok and not grew
    fired = {e.rule for e in result.alert_events}
    if passed is False:
        fired.discard("dropped_arrivals")  # the overloaded target's queue filled max_in_flight
    achieved = float(s["avg_rps"])
    generator = bool(fired & set(GENERATOR_RULES)) or (passed and achieved < ACHIEVED_SHARE
                                                       * offered)
    return {"offered_rps": round(offered, 3), "achieved_rps": achieved,
            "p50_ms": lat["p50"], "p90_ms": lat["p90"], "p99_ms": lat["p99"],
            "error_rate": round(s["failed_requests"] / answered, 6) if answered else None,
            "latency_grew": grew, "passed": passed, "generator": generator}


class CapacityResult:
    """What a capacity search found (see the module docstring): ``capacity_rps``, ``bracket``
    (last good, first bad offered rate), ``limited_by``, ``steps`` (a DataFrame, one row per
    step), ``results`` (every step's full :class:`~loadnb.results.result.Result`), ``as_dict()`` and
    ``chart()``."""

    def __init__(self, slo: Sequence[str], rows: list[dict[str, Any]], results: list[Result],
                 capacity_rps: float | None, bracket: tuple[float | None, float | None],
                 limited_by: str) -> None:
        self.slo = list(slo)
        self.rows = rows
        self.results = results
        self.capacity_rps = capacity_rps
        self.bracket = bracket
        self.limited_by = limited_by

    def __repr__(self) -> str:
        cap = "None" if self.capacity_rps is None else numbers.rate(self.capacity_rps)
        return (f"<CapacityResult capacity={cap} limited_by={self.limited_by!r} "
                f"bracket={self.bracket} steps={len(self.rows)}>")

    @property
    def steps(self) -> pd.DataFrame:
        """One row per step: ``offered_rps, achieved_rps, p50_ms, p90_ms, p99_ms, error_rate,
        latency_grew, passed``, in the order they ran."""
        import pandas as pd

        return pd.DataFrame(self._step_rows(), columns=list(STEP_COLUMNS))

    def as_dict(self) -> dict[str, Any]:
        """What ``loadnb capacity --json`` prints: ``steps`` has :attr:`steps`'s columns."""
        return {"capacity_rps": self.capacity_rps, "limited_by": self.limited_by,
                "bracket": list(self.bracket), "steps": self._step_rows()}

    def _step_rows(self) -> list[dict[str, Any]]:
        """One dict per step, the :data:`STEP_COLUMNS` (for :attr:`steps` and :meth:`as_dict`)."""
        return [{c: r[c] for c in STEP_COLUMNS} for r in self.rows]

    def chart(self) -> figure:
        """Latency percentiles against achieved throughput, the SLO bound, the knee (Bokeh)."""
        from .charts import capacity_chart

        return capacity_chart(self.rows, latency_bound(parse_thresholds(self.slo)),
                              self.capacity_rps)

    def caption(self) -> str:
        """One line: the capacity found (or why none), the bracket, the steps."""
        lo, hi = self.bracket
        found = ("no capacity found" if self.capacity_rps is None
                 else f"capacity {numbers.rate(self.capacity_rps)}")
        return (f"{found} (limited by {self.limited_by}; last good {lo}, first bad {hi}; "
                f"{len(self.rows)} steps; SLO {', '.join(self.slo)})")

    def _repr_html_(self) -> str:
        from .charts import html_of

        return html_of(self.chart(), self.caption())

    def _ipython_display_(self) -> None:
        from .charts import display

        display(self.chart(), self.caption())


async def acapacity(url_or_scenario: object = None, /, slo: Sequence[str] | str = (
        "p99<200ms", "errors<1%"), *, start_rate: float = 10.0, factor: float = 2.0,
        resolution: float = 0.05, step_duration: str | float = 5.0,
        cooldown: str | float = 1.0, max_steps: int = 20, max_rate: float = 10_000.0,
        confirm: bool = True, history: object = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        **params: Any) -> CapacityResult:
    """Search the capacity of a target within ``slo`` (see the module docstring).

    With ``confirm`` (the default) a verdict that one hiccup of a busy machine can give is
    taken again at once: a step that broke the SLO with no latency growth and no failed request
    (a tail spike, not a queue), or a generator-bound one; the repeat decides. Repeats count as
    steps. ``on_step`` is called with each step's row as it ends (the CLI prints it).
    Other parameters (``headers``, ``timeout``, ``max_in_flight``, ``transport``, ``interval``…)
    go to every step's run, as for :func:`loadnb.run`; ``history`` too. Bad input raises
    ``ValueError`` before anything is sent.
    """
    exprs = [slo] if isinstance(slo, str) else list(slo)
    thresholds = parse_thresholds(exprs)
    if not thresholds:
        raise ValueError("slo must hold at least one threshold expression, e.g. 'p99<200ms'")
    step = parse_duration(step_duration, "step_duration")
    pause = parse_duration(cooldown, "cooldown")
    _check_search(start_rate, factor, resolution, max_rate, max_steps)
    params.setdefault("interval", min(0.5, max(0.1, step / 10)))
    for key in ("rate", "users", "duration", "requests", "thresholds"):
        if key in params:
            raise ValueError(f"{key} is set by the capacity search; leave it out")

    def spec_at(rate: float) -> Any:
        return spec_of(url_or_scenario, dict(params, rate=rate, duration=step,
                                             thresholds=exprs, history=history))

    spec_at(start_rate)  # bad input fails here, before anything is sent
    bound = latency_bound(thresholds)
    rows: list[dict[str, Any]] = []
    results: list[Result] = []

    async def run_step(rate: float) -> dict[str, Any]:
        if rows:
            await asyncio.sleep(pause)
        result = await Run(spec_at(rate)).run()
        rows.append(judge_step(result, rate, bound))
        results.append(result)
        if on_step is not None:
            on_step(rows[-1])
        return rows[-1]

    good, bad, limited_by = await _search(run_step, rows, start_rate, factor, max_rate,
                                          resolution, max_steps, confirm)
    cap = None if limited_by == "generator" else good
    return CapacityResult(exprs, rows, results, cap, (good, bad), limited_by)


async def _search(run_step: Callable[[float], Awaitable[dict[str, Any]]],
                  rows: list[dict[str, Any]], rate: float, factor: float, max_rate: float,
                  resolution: float, max_steps: int, confirm: bool,
                  ) -> tuple[float | None, float | None, str]:
    """Step until the bracket ``(good, bad)`` is within ``resolution``: ``(good, bad,
    limited_by)``."""
    good: float | None = None
    bad: float | None = None
    limited_by = "max_steps"
    while len(rows) < max_steps:
        row = await run_step(rate)
        if confirm and len(rows) < max_steps and (row["generator"] or not (
                row["passed"] or row["latency_grew"] or row["error_rate"])):
            row = await run_step(rate)  # a verdict a passing hiccup can give: the repeat decides
        if row["generator"]:
            limited_by = "generator"
            break
        if row["passed"]:
            good = rate
        else:
            bad = rate
        next_rate, stop = _next_rate(rate, good, bad, factor, max_rate, resolution)
        if stop is not None:
            limited_by = stop
            break
        rate = next_rate
    return good, bad, limited_by


def _check_search(start_rate: float, factor: float, resolution: float, max_rate: float,
                  max_steps: int) -> None:
    """One ValueError for a search that cannot be run."""
    if not (math.isfinite(start_rate) and start_rate > 0):
        raise ValueError(f"start_rate must be a positive number, got {start_rate!r}")
    if not (math.isfinite(factor) and factor > 1):
        raise ValueError(f"factor must be greater than 1, got {factor!r}")
    if not 0 < resolution < 1:
        raise ValueError(f"resolution must be between 0 and 1, got {resolution!r}")
    if not (math.isfinite(max_rate) and max_rate >= start_rate):
        raise ValueError(f"max_rate must be at least start_rate, got {max_rate!r}")
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")


def _next_rate(rate: float, good: float | None, bad: float | None, factor: float,
               max_rate: float, resolution: float) -> tuple[float, str | None]:
    """The next step's rate, or why the search ends (``"max_rate"``, ``"slo"``): up by
    ``factor`` until a step fails, down by it while none passed, then bisect the bracket."""
    if bad is None:
        if rate >= max_rate:
            return rate, "max_rate"
        return min(rate * factor, max_rate), None
    if good is None:
        return rate / factor, None  # even the start rate was too much: step down
    if bad - good <= resolution * good:
        return rate, "slo"
    return (good + bad) / 2, None


def capacity(url_or_scenario: object = None, /, slo: Sequence[str] | str = (
        "p99<200ms", "errors<1%"), **params: Any) -> CapacityResult:
    """:func:`acapacity`, blocking (for scripts; in a notebook prefer ``await acapacity``)."""
    return run_to_end(acapacity(url_or_scenario, slo, **params))





class _CallableModule(types.ModuleType):
    """``loadnb.capacity(...)`` is :func:`capacity`; ``loadnb.capacity`` is also this module."""

    def __call__(self, url_or_scenario: object = None, /, slo: Sequence[str] | str = (
            "p99<200ms", "errors<1%"), **params: Any) -> CapacityResult:
        return capacity(url_or_scenario, slo, **params)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["ACHIEVED_SHARE", "GENERATOR_RULES", "STEP_COLUMNS", "CapacityResult", "acapacity",
           "capacity", "judge_step", "latency_bound", "latency_grew"]
