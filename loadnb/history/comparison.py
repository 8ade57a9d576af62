"""Compare two runs: a table of differences with a significance hint, and an overlay chart.

Per metric (rps, success rate, p50/p95/p99, errors), overall and per request name, and each of
the target's ``server.*`` series both runs have (scope ``server``; verdict ``higher``/``lower``
when significant): both values,
the absolute and relative change, and a Mann–Whitney U test (numpy, normal approximation with
tie correction) of the per-interval values of the two runs. A change is called a ``regression``
(or an ``improvement``) only when it is significant (p < ``alpha``), at least ``min_change``
relative and, for latencies, at least ``min_ms`` milliseconds, so the noise between two runs of
the same configuration is not.

Example::

    cmp = compare(baseline, candidate)       # Results, ids, prefixes or "last"
    cmp                                      # displays its table in a notebook
    cmp.table[cmp.table.verdict == "regression"]
    cmp.chart()                              # Bokeh: RPS and p99 over elapsed time, both runs
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..charts import palette
from ..results.result import Result
from ..text.numbers import fixed, significant

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.models import Model

ALPHA = 0.01
MIN_CHANGE = 0.2
#: Latency changes smaller than this (ms) are never called a regression: on a loaded machine the
#: generator's own scheduling moves the tail of two identical runs by a few ms.
MIN_MS = 5.0
#: (metric, higher is worse)
METRICS: tuple[tuple[str, bool], ...] = (
    ("rps", False), ("success_rate", False), ("p50_ms", True), ("p95_ms", True),
    ("p99_ms", True), ("errors", True))
COLUMNS = ("scope", "metric", "a", "b", "change", "change_pct", "p_value", "verdict")
#: The verdict of a metric with fewer than 3 per-interval values in a run (no p-value): a short
#: run, or a name's p95 (kept per run, not per interval).
TOO_FEW = "too few samples"
Floats = npt.NDArray[np.float64]


def rank(values: Floats) -> Floats:
    """1-based ranks, ties sharing their average rank.

    >>> rank(np.array([3.0, 1.0, 3.0])).tolist()
    [2.5, 1.0, 2.5]
    """
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    average = np.cumsum(counts) - (counts - 1) / 2.0
    return np.asarray(average[inverse.ravel()], dtype=np.float64)


def mann_whitney(a: Floats, b: Floats) -> float:
    """Two-sided p-value of the Mann–Whitney U test (NaN with fewer than 3 values a side).

    >>> mann_whitney(np.arange(10.0), np.arange(10.0) + 100) < 0.001
    True
    """
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    n1, n2 = a.size, b.size
    if n1 < 3 or n2 < 3:
        return math.nan
    both = np.concatenate([a, b])
    n = n1 + n2
    u = float(rank(both)[:n1].sum()) - n1 * (n1 + 1) / 2.0
    _, ties = np.unique(both, return_counts=True)
    tie_term = float((ties ** 3 - ties).sum()) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term))
    if sigma == 0:
        return 1.0
    z = max(abs(u - n1 * n2 / 2.0) - 0.5, 0.0) / sigma
    return math.erfc(z / math.sqrt(2.0))


@dataclass
class Row:
    """One line of the comparison."""

    scope: str
    metric: str
    a: float | None
    b: float | None
    change: float | None
    change_pct: float | None
    p_value: float | None
    verdict: str


def _judge(scope: str, metric: str, values: tuple[float | None, float | None],
          series: tuple[Floats, Floats], worse_up: bool, alpha: float,
          min_change: float, min_ms: float = 0.0) -> Row:
    """The row of one metric: change, p-value and verdict."""
    a, b = values
    change = pct = None
    if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
        change = b - a
        pct = 100.0 * change / abs(a) if a else (0.0 if change == 0 else math.inf)
    p = mann_whitney(*series)
    verdict = TOO_FEW if math.isnan(p) else ""
    if not math.isnan(p) and pct is not None:
        verdict = "no significant change"
        floor = min_ms if metric.endswith("_ms") else 0.0
        big = change is not None and abs(pct) >= 100.0 * min_change and abs(change) >= floor
        if p < alpha and big and change:
            verdict = "regression" if (change > 0) == worse_up else "improvement"
    return Row(scope, metric, a, b, change, pct, None if math.isnan(p) else p, verdict)


def _full(result: Result) -> list[Any]:
    """The snapshots of full intervals (the final, partial one left out)."""
    snaps = result.snapshots
    return snaps[:-1] if len(snaps) > 1 and snaps[-1].phase == "done" else snaps


def _overall(result: Result) -> dict[str, tuple[float | None, Floats]]:
    """Per metric: the run's value and its per-interval values."""
    s, snaps = result.summary, _full(result)
    lat = s["latency_ms"]

    def col(name: str) -> Floats:
        return np.array([getattr(x, name) for x in snaps], dtype=np.float64)

    done, failed = col("interval_completed"), col("interval_failed")
    with np.errstate(invalid="ignore", divide="ignore"):
        success = 100.0 * done / (done + failed)
    return {"rps": (s["avg_rps"], col("current_rps")),
            "success_rate": (s["success_rate"], success),
            "p50_ms": (lat["p50"], col("p50_ms")), "p95_ms": (lat["p95"], col("p95_ms")),
            "p99_ms": (lat["p99"], col("p99_ms")), "errors": (s["failed_requests"], failed)}


def _per_name(result: Result, name: str) -> dict[str, tuple[float | None, Floats]]:
    """Per metric of one request name (per-interval p95 is not kept: no test for it)."""
    t, duration = result.totals[name], result.duration_s
    rows = [r for r in result.record.names_timeline if r[1] == name]

    def col(index: int) -> Floats:
        return np.array([r[index] for r in rows], dtype=np.float64)

    p50, p95, p99 = (round(v * 1e3, 3) for v in t.latency.percentiles((50, 95, 99)))
    answered = t.completed + t.failed
    with np.errstate(invalid="ignore", divide="ignore"):
        success = 100.0 * col(3) / (col(3) + col(4))
    return {"rps": (answered / duration if duration else None, col(5)),
            "success_rate": (100.0 * t.completed / answered if answered else None, success),
            "p50_ms": (p50, col(6)), "p95_ms": (p95, np.array([])), "p99_ms": (p99, col(8)),
            "errors": (float(t.failed), col(4))}


class Comparison:
    """The differences between runs ``a`` and ``b`` (see the module docstring)."""

    def __init__(self, a: Result, b: Result, rows: list[Row]) -> None:
        self.a, self.b, self.rows = a, b, rows

    @property
    def table(self) -> pd.DataFrame:
        """One row per (scope, metric): a, b, change, change_pct, p_value, verdict."""
        import pandas as pd

        return pd.DataFrame([vars(r) for r in self.rows], columns=list(COLUMNS))

    @property
    def regressions(self) -> list[Row]:
        """The rows called a regression."""
        return [r for r in self.rows if r.verdict == "regression"]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: both runs and every row."""
        def run(r: Result) -> dict[str, Any]:
            return {"run_id": r.run_id, "target": r.spec.target, "state": r.state}

        return {"a": run(self.a), "b": run(self.b), "rows": [vars(r) for r in self.rows],
                "regressions": len(self.regressions)}

    def __repr__(self) -> str:
        return (f"<Comparison {self.a.run_id} → {self.b.run_id}: "
                f"{len(self.regressions)} regression(s)>")

    def text(self) -> str:
        """The table as aligned text (``loadnb compare``): numbers as in the HTML table
        (``7,620.40``), a missing value as ``—`` (never ``nan``)."""
        cells = [list(COLUMNS)] + [[_fmt(getattr(r, c)) or "—" for c in COLUMNS]
                                   for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
        right = {"a", "b", "change", "change_pct", "p_value"}
        return "\n".join("  ".join(c.rjust(w) if COLUMNS[i] in right else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                         .rstrip() for row in cells)

    def _repr_html_(self) -> str:
        colours = {"regression": palette.REGRESSION_BACKGROUND,
                   "improvement": palette.IMPROVEMENT_BACKGROUND}
        head = "".join(f"<th>{c}</th>" for c in COLUMNS)
        body = []
        for r in self.rows:
            style = f' style="background:{colours[r.verdict]}"' if r.verdict in colours else ""
            cells = "".join(f"<td>{html.escape(_fmt(getattr(r, c)))}</td>" for c in COLUMNS)
            body.append(f"<tr{style}>{cells}</tr>")
        title = html.escape(f"A {self.a.run_id} ({self.a.spec.target}) → "
                            f"B {self.b.run_id} ({self.b.spec.target}): "
                            f"{len(self.regressions)} regression(s)")
        return (f"<div><b>{title}</b><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table></div>")

    def chart(self) -> Model:
        """A Bokeh figure: RPS (left axis, solid) and p99 ms (right axis, dashed) of both runs
        over elapsed time (the final, partial interval's RPS not drawn; axes read like ``100k``)."""
        from bokeh.models import LinearAxis, Range1d
        from bokeh.plotting import figure

        from ..charts.axes import drawn_rates, readable_axes

        fig = figure(height=320, sizing_mode="stretch_width", x_axis_label="elapsed (s)",
                     y_axis_label="requests/s", title=f"{self.a.run_id} vs {self.b.run_id}")
        top = max([s.p99_ms for r in (self.a, self.b) for s in r.snapshots
                   if math.isfinite(s.p99_ms)], default=1.0)
        fig.extra_y_ranges = {"ms": Range1d(start=0, end=top * 1.1)}
        fig.add_layout(LinearAxis(y_range_name="ms", axis_label="p99 (ms)"), "right")
        for result, colour in ((self.a, palette.series(0)), (self.b, palette.series(1))):
            snaps = result.snapshots
            x = [s.elapsed_time for s in snaps]
            label = f"{'A' if result is self.a else 'B'} {result.run_id}"
            rps = drawn_rates(x, [s.current_rps for s in snaps], [s.phase for s in snaps])
            fig.line(x, rps, color=colour, legend_label=f"{label} rps", line_width=2)
            fig.line(x, [s.p99_ms for s in result.snapshots], color=colour, line_dash="dashed",
                     y_range_name="ms", legend_label=f"{label} p99")
        fig.legend.location = "top_left"
        return readable_axes(fig)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return significant(value) if abs(value) < 1e-3 and value else fixed(value, 2)
    return str(value)


def compare(a: object, b: object, *, path: str | os.PathLike[str] | None = None,
            alpha: float = ALPHA, min_change: float = MIN_CHANGE,
            min_ms: float = MIN_MS) -> Comparison:
    """Compare ``a`` (the baseline) with ``b``: Results, or run ids / prefixes / ``last``."""
    from .reader import load

    ra = a if isinstance(a, Result) else load(str(a), path)
    rb = b if isinstance(b, Result) else load(str(b), path)
    rows = []
    scopes = [("overall", _overall(ra), _overall(rb))]
    scopes += [(n, _per_name(ra, n), _per_name(rb, n)) for n in sorted(set(ra.totals)
                                                                      & set(rb.totals))]
    for scope, ma, mb in scopes:
        for metric, worse_up in METRICS:
            rows.append(_judge(scope, metric, (_num(ma[metric][0]), _num(mb[metric][0])),
                              (ma[metric][1], mb[metric][1]), worse_up, alpha, min_change,
                              min_ms))
    rows += server_rows(ra, rb, alpha, min_change)
    return Comparison(ra, rb, rows)


def server_rows(a: Result, b: Result, alpha: float, min_change: float) -> list[Row]:
    """Scope ``server``: each of the target's series both runs have (its mean over the
    intervals, tested on the per-interval values); a significant change is ``higher`` or
    ``lower`` (whether that is worse depends on the series)."""
    sa, sb = a.server, b.server
    rows = []
    for series in [s for s in dict.fromkeys(sa["series"]) if s in set(sb["series"])]:
        va = sa.loc[sa["series"] == series, "value"].to_numpy(np.float64)
        vb = sb.loc[sb["series"] == series, "value"].to_numpy(np.float64)
        row = _judge("server", str(series), (float(va.mean()), float(vb.mean())), (va, vb),
                    True, alpha, min_change)
        verdict = {"regression": "higher", "improvement": "lower"}.get(row.verdict, row.verdict)
        rows.append(replace(row, verdict=verdict))
    return rows


def _num(value: Any) -> float | None:
    number = None if value is None else float(value)
    return number if number is not None and math.isfinite(number) else None


__all__ = ["COLUMNS", "TOO_FEW", "Comparison", "Row", "compare", "mann_whitney", "rank",
           "server_rows"]
