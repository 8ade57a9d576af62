"""A closed-model sweep: throughput and latency at each concurrency, and the USL fitted to them.

:func:`asweep` (``await`` it) and :func:`sweep` (blocking) run one ordinary closed-model
:class:`~loadnb.runner.run.Run` of ``step_duration`` per number of users (``cooldown`` between them)
and fit the Universal Scalability Law (:mod:`loadnb.studies.usl`) to the throughput measured::

    sw = await loadnb.asweep(url, users=[1, 2, 4, 8, 16, 32], step_duration="5s")
    sw.df                                  # users, throughput_rps, p50_ms, p99_ms, error_rate
    sw.fit.peak_throughput, sw.fit.peak_users, sw.fit.sigma, sw.fit.kappa
    sw.chart()                             # the points and the fitted curve
"""

from __future__ import annotations

import asyncio
import math
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..engine.loop import run_to_end
from ..results.result import Result
from ..runner.run import Run
from ..spec.config import spec_of
from ..text.units import parse_duration
from .usl import UslFit, fit_usl

if TYPE_CHECKING:
    import pandas as pd
    from bokeh.plotting import figure

COLUMNS = ("users", "throughput_rps", "p50_ms", "p90_ms", "p99_ms", "error_rate")


class SweepResult:
    """Rows per concurrency (``df``), every step's :class:`~loadnb.results.result.Result`
    (``results``), the USL ``fit`` (None with fewer than three concurrencies or no throughput),
    ``chart()``."""

    def __init__(self, rows: list[dict[str, Any]], results: list[Result]) -> None:
        self.rows = rows
        self.results = results
        self.fit: UslFit | None = None
        try:
            self.fit = fit_usl([r["users"] for r in rows], [r["throughput_rps"] for r in rows])
        except ValueError:
            self.fit = None

    def __repr__(self) -> str:
        return f"<SweepResult {self.caption()}>"

    @property
    def df(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def as_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows],
                "usl": None if self.fit is None else self.fit.as_dict()}

    def caption(self) -> str:
        f = self.fit
        if f is None:
            return f"{len(self.rows)} concurrencies; no USL fit"
        peak = f.peak_throughput
        at = f"N* {f.peak_users:.1f}" if math.isfinite(f.peak_users) else "no peak (κ = 0)"
        top = "none" if peak is None else f"{peak:,.1f} req/s"
        return (f"USL fit: λ {f.lam:.2f}, σ {f.sigma:.4f}, κ {f.kappa:.6f} (R² {f.r2:.3f}); "
                f"predicted peak {top} at {at}")

    def chart(self) -> figure:
        from .charts import sweep_chart

        return sweep_chart([r["users"] for r in self.rows],
                           [r["throughput_rps"] for r in self.rows], self.fit)

    def _repr_html_(self) -> str:
        from .charts import html_of

        return html_of(self.chart(), self.caption())

    def _ipython_display_(self) -> None:
        from .charts import display

        display(self.chart(), self.caption())


async def asweep(url_or_scenario: object = None, /, users: Sequence[int] = (1, 2, 4, 8, 16, 32),
                 *, step_duration: str | float = 5.0, cooldown: str | float = 1.0,
                 history: object = None, **params: Any) -> SweepResult:
    """Run a closed-model step per number of ``users`` and fit the USL (see the module doc).
    Other parameters go to every step's run; bad input raises ValueError before any load."""
    counts = list(users)
    if not counts or not all(isinstance(u, int) and u >= 1 for u in counts):
        raise ValueError(f"users must be a list of positive integers, got {users!r}")
    step = parse_duration(step_duration, "step_duration")
    pause = parse_duration(cooldown, "cooldown")
    for key in ("rate", "users", "duration", "requests"):
        if key in params:
            raise ValueError(f"{key} is set by the sweep; leave it out")

    def spec_at(n: int) -> Any:
        return spec_of(url_or_scenario, dict(params, users=n, duration=step, history=history))

    for n in counts:
        spec_at(n)  # bad input fails before anything is sent
    rows: list[dict[str, Any]] = []
    results: list[Result] = []
    for i, n in enumerate(counts):
        if i:
            await asyncio.sleep(pause)
        result = await Run(spec_at(n)).run()
        s = result.summary
        answered = s["completed_requests"] + s["failed_requests"]
        lat = s["latency_ms"]
        rows.append({"users": n, "throughput_rps": float(s["avg_rps"]), "p50_ms": lat["p50"],
                     "p90_ms": lat["p90"], "p99_ms": lat["p99"],
                     "error_rate": round(s["failed_requests"] / answered, 6) if answered
                     else None})
        results.append(result)
    return SweepResult(rows, results)


def sweep(url_or_scenario: object = None, /, users: Sequence[int] = (1, 2, 4, 8, 16, 32),
          **params: Any) -> SweepResult:
    """:func:`asweep`, blocking (for scripts; in a notebook prefer ``await asweep``)."""
    return run_to_end(asweep(url_or_scenario, users, **params))



class _CallableModule(types.ModuleType):
    """``loadnb.sweep(...)`` is :func:`sweep` although ``loadnb.sweep`` is also this module."""

    def __call__(self, url_or_scenario: object = None, /,
                 users: Sequence[int] = (1, 2, 4, 8, 16, 32), **params: Any) -> SweepResult:
        return sweep(url_or_scenario, users, **params)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["SweepResult", "asweep", "sweep"]
