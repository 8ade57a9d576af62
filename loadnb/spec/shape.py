"""Load shapes: the target load over time (users in the closed model, arrivals/s in the open one).

One mechanism serves a constant load, a linear ramp-up, stages (k6-style ``(duration, target)``
steps with linear ramps between them) and a custom function of elapsed time. The engine asks
:meth:`LoadShape.target` a few times per interval, so a shape change or a live override takes
effect within one interval; the widget draws :meth:`LoadShape.sample` before the run.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any

ShapeFn = Callable[[float], float]


class LoadShape:
    """A piecewise-linear target through ``points`` ``(t, value)``, or any function of ``t``.

    Before the first point the target is the first point's value; after the last, the last's.

    >>> LoadShape.from_stages([(10, 20), (30, 20), (10, 0)]).target(5)
    10.0
    """

    def __init__(self, points: Sequence[tuple[float, float]] = (), fn: ShapeFn | None = None,
                 duration: float | None = None) -> None:
        if fn is None and not points:
            raise ValueError("a load shape needs points or a function")
        self._times = [float(t) for t, _ in points]
        self._values = [float(v) for _, v in points]
        self._fn = fn
        self.duration = duration if duration is not None else (
            self._times[-1] if self._times else None)

    @classmethod
    def constant(cls, value: float, ramp_up: float = 0.0,
                 duration: float | None = None) -> LoadShape:
        """``value`` from the start, or a linear ramp from 0 to ``value`` over ``ramp_up``."""
        points = [(0.0, 0.0), (ramp_up, value)] if ramp_up > 0 else [(0.0, value)]
        return cls(points, duration=duration)

    @classmethod
    def from_stages(cls, stages: Sequence[tuple[float, float]]) -> LoadShape:
        """Stages ``(duration, target)``: each ramps linearly from the previous target (from 0)."""
        points, t = [(0.0, 0.0)], 0.0
        for length, value in stages:
            t += length
            points.append((t, value))
        return cls(points, duration=t)

    def target(self, t: float) -> float:
        """The target at ``t`` seconds from the start (never negative)."""
        if self._fn is not None:
            value = float(self._fn(t))
            return value if math.isfinite(value) and value > 0 else 0.0
        times, values = self._times, self._values
        i = bisect.bisect_right(times, t)
        if i == 0:
            return values[0]
        if i == len(times):
            return values[-1]
        t0, t1, v0, v1 = times[i - 1], times[i], values[i - 1], values[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1

    def sample(self, n: int = 200) -> tuple[list[float], list[float]]:
        """``n`` evenly spaced ``(times, targets)`` over the run, for drawing the plan."""
        end = self.duration or (self._times[-1] if self._times else 60.0)
        times = [end * i / (n - 1) for i in range(n)] if n > 1 else [0.0]
        return times, [self.target(t) for t in times]


def check_stages(stages: object, what: str,
                 parse: Callable[[Any, str], float]) -> tuple[tuple[float, float], ...]:
    """Validate ``[(duration, target), …]``; durations parsed with ``parse``; targets >= 0."""
    if not isinstance(stages, list | tuple) or not stages:
        raise ValueError(f"{what} must be a non-empty list of (duration, target) pairs")
    out = []
    for stage in stages:
        if not isinstance(stage, list | tuple) or len(stage) != 2:
            raise ValueError(f"{what}: each stage is a (duration, target) pair, got {stage!r}")
        length = parse(stage[0], f"{what} duration")
        value = stage[1]
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or value < 0):
            raise ValueError(f"{what}: a target must be a number >= 0, got {value!r}")
        out.append((length, float(value)))
    if sum(length for length, _ in out) <= 0:
        raise ValueError(f"{what}: the stages must last longer than 0 s")
    return tuple(out)


__all__ = ["LoadShape", "ShapeFn", "check_stages"]
