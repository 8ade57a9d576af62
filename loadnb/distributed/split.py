"""Splitting one run's load across N worker processes, exactly.

Whole quantities (users, a request budget, data rows in ``once`` mode) are split with no rounding
loss: the parts add up to the whole and differ by at most one (10 users on 3 workers: 4 + 3 + 3).
Rates split evenly (each worker paces ``rate / n`` arrivals per second). Ramps, stages and shape
functions stay global: every worker runs the same plan, scaled by its share, so at any moment the
workers' targets add up to the run's target (:class:`ShareShape`).
"""

from __future__ import annotations

import dataclasses

from ..spec.config import LoadSpec
from ..spec.shape import LoadShape


def split_int(total: int, n: int) -> list[int]:
    """``total`` split into ``n`` whole parts that add up to it and differ by at most one (the
    larger ones first).

    >>> split_int(10, 3)
    [4, 3, 3]
    """
    if n < 1:
        raise ValueError(f"cannot split across {n} workers")
    if total < 0:
        raise ValueError(f"cannot split a negative amount ({total})")
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def share_of(total: int, index: int, n: int) -> int:
    """Worker ``index``'s part of ``total`` (the ``index``-th of :func:`split_int`)."""
    base, extra = divmod(total, n)
    return base + (1 if index < extra else 0)


def split_rows(rows: tuple[object, ...], n: int) -> list[tuple[object, ...]]:
    """``rows`` cut into ``n`` consecutive slices (sizes from :func:`split_int`): every row in
    exactly one slice, in order."""
    out, start = [], 0
    for size in split_int(len(rows), n):
        out.append(rows[start:start + size])
        start += size
    return out


def split_target(value: float, n: int, *, users: bool) -> list[float]:
    """A live target (users or arrivals/s) for ``n`` workers: users split exactly, a rate
    evenly."""
    if users:
        return [float(v) for v in split_int(int(round(value)), n)]
    return [value / n] * n


@dataclasses.dataclass(frozen=True, slots=True)
class ShareShape:
    """Worker ``index`` of ``n``'s part of a global plan: the users the run aims for at ``t``,
    split exactly (closed model), or ``1/n`` of the arrival rate (open model). A picklable
    callable, used as the worker's ``shape_fn``."""

    shape: LoadShape
    index: int
    n: int
    users: bool

    def __call__(self, t: float) -> float:
        value = self.shape.target(t)
        if self.users:
            return float(share_of(int(round(value)), self.index, self.n))
        return value / self.n


def share_spec(spec: LoadSpec, index: int, n: int) -> LoadSpec:
    """The spec worker ``index`` of ``n`` runs: its share of the users (or rate), of the request
    budget and (``once`` mode) of the data rows; the same plan over time, scaled; a seed of its
    own. Nothing of the run's own bookkeeping (alerts, thresholds, webhooks, history, the
    cluster) goes to a worker."""
    if not 0 <= index < n:
        raise ValueError(f"worker index {index} out of range for {n} workers")
    users = spec.rate is None
    changes: dict[str, object] = {
        "workers": None, "cluster": None, "alerts": (), "thresholds": (), "notify": (),
        "history": "off", "abort_on_fail": False,
        "users": share_of(spec.users, index, n) if users else spec.users,
        "rate": None if spec.rate is None else spec.rate / n,
        "requests": None if spec.requests is None else share_of(spec.requests, index, n),
        "seed": None if spec.seed is None else spec.seed + index,
    }
    if spec.stages is not None or spec.shape_fn is not None or spec.ramp_up > 0:
        changes.update(stages=None, ramp_up=0.0,
                       shape_fn=ShareShape(spec.load_shape(), index, n, users))
    if spec.connections is not None:
        changes["connections"] = max(1, share_of(spec.connections, index, n))
    if spec.max_in_flight and not users:
        changes["max_in_flight"] = max(1, share_of(spec.max_in_flight, index, n))
    if spec.data_rows is not None and spec.data_mode == "once":
        changes["data_rows"] = split_rows(spec.data_rows, n)[index]
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


__all__ = ["ShareShape", "share_of", "share_spec", "split_int", "split_rows", "split_target"]
