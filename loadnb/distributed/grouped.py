"""The workers of a large cluster as the driver sees them once they fan in: one
:class:`~loadnb.engine.source.Source` fed by their groups' parts (:mod:`~.fanin`).

Each group's leader publishes one part a tick for its whole group; :class:`GroupedSource` merges
what arrived since the last tick (a few dozen parts, whatever the number of workers) and keeps,
by worker, in numpy tables, what :class:`~loadnb.distributed.source.ClusterSource` keeps per
worker object: its last status (a row of :data:`~.fanin.STATUS_FIELDS`) and its requests started
minus ended by name. Nothing here loops over the workers in Python but the per-worker view's rows
(:class:`~loadnb.metrics.payload.WorkerInterval`) and the lost ones.

A lost worker's requests never reported ended are counted as cancelled :data:`SETTLE_TICKS`
ticks after the driver learns of the loss (what it sent its leader just before, still on its way
through the leader's next part, is counted first), or at the end.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..metrics.payload import PHASES, Payload, SourceStatus, WorkerInterval
from ..metrics.stats import IntervalStats
from .fanin import STATUS_FIELDS, Floats, MergedParts, PartMerge, member_part, status_row
from .source import WorkerSource

#: Ticks between the driver learning a worker is lost and its open requests being settled.
SETTLE_TICKS = 2
_COL = {name: i for i, name in enumerate(STATUS_FIELDS)}
_ZEROED = np.array([_COL[f] for f in ("active_users", "in_flight", "waiting", "target_users")])
_SUMMED = [_COL[f] for f in ("active_users", "in_flight", "waiting", "target_users", "dropped",
                             "started", "connected")]


class GroupedSource:
    """Every worker of a fanned-in run as one :class:`~loadnb.engine.source.Source`.

    Example::

        source = GroupedSource([WorkerSource(i, addr) for i, addr in enumerate(addresses)])
        source.receive(msg["part"])          # a leader's part, from the event subscription
        payload = source.collect(final=False)
    """

    def __init__(self, workers: Sequence[WorkerSource]) -> None:
        self.workers = list(workers)
        n = len(self.workers)
        self._merge = PartMerge()
        self._parts: deque[dict[str, Any]] = deque()
        self._status: Floats = np.tile(status_row(SourceStatus(phase="idle")), (n, 1))
        self._seen = np.zeros(n, bool)
        self._open = np.zeros((n, 0), np.int64)
        self._lost_for: dict[int, int] = {}

    def receive(self, part: dict[str, Any]) -> None:
        """One part (a group's, or a worker's own once it publishes directly)."""
        self._parts.append(part)

    def collect(self, *, final: bool) -> Payload:
        merge = self._merge
        while self._parts:
            merge.add(self._parts.popleft())
        for w in self.workers:
            if w.finished and w.has_news:
                for plain in w.take():
                    merge.add(member_part(plain, w.index, 0))
        merged = merge.take()
        self._account(merged)
        lost = np.array([w.lost for w in self.workers], bool)
        finished = np.array([w.finished for w in self.workers], bool)
        for i in self._to_settle(lost, final):
            self._settle(i, merged.stats)
        lag, cpu = self._statuses(merged)
        status = self._status_now(lost, finished, final, merged)
        answered = np.bincount(merged.rows.index, merged.rows.requests,
                               minlength=len(self.workers)).astype(np.int64)
        each = tuple(WorkerInterval(i, a, g, c, x) for i, (a, g, c, x) in enumerate(zip(
            answered.tolist(), lag.tolist(), cpu.tolist(), lost.tolist(), strict=True)))
        s = merged.streams
        return Payload(merged.stats, status, s.custom, connections=s.connections,
                       messages=s.messages, slowest=s.slowest, workers=each)

    def _account(self, merged: MergedParts) -> None:
        """Add the tick's started-minus-ended requests to each worker's by name."""
        need = len(self._merge.names)
        if need > self._open.shape[1]:
            grow = max(need, 2 * self._open.shape[1]) - self._open.shape[1]
            self._open = np.pad(self._open, ((0, 0), (0, grow)))
        np.add.at(self._open, (merged.open_owner, merged.open_slot), merged.open_delta)

    def _to_settle(self, lost: np.ndarray, final: bool) -> list[int]:
        """The workers whose open requests are to be counted as cancelled now (once each)."""
        out = []
        for i in np.flatnonzero(lost).tolist():
            ticks = self._lost_for[i] = self._lost_for.get(i, 0) + 1
            if (ticks > SETTLE_TICKS or final) and self.workers[i].must_settle(final=True):
                out.append(i)
        if final:
            out += [w.index for w in self.workers if not w.lost and w.must_settle(final)]
        return out

    def _settle(self, index: int, stats: dict[str, IntervalStats]) -> None:
        """Count worker ``index``'s requests started and never ended as cancelled."""
        open_ = self._open[index]
        for slot in np.flatnonzero(open_ > 0).tolist():
            name = self._merge.names[slot]
            iv = stats.get(name)
            if iv is None:
                stats[name] = iv = IntervalStats(name)
            iv.cancelled += int(open_[slot])
        self._open[index] = 0

    def _statuses(self, merged: MergedParts) -> tuple[Floats, Floats]:
        """Keep each worker's last status of the tick; its loop lag and CPU (NaN: none came)."""
        n = len(self.workers)
        lag, cpu = np.full(n, math.nan), np.full(n, math.nan)
        index = merged.rows.index
        if len(index):
            who, back = np.unique(index[::-1], return_index=True)
            rows = merged.rows.status[len(index) - 1 - back]
            self._status[who] = rows
            self._seen[who] = True
            lag[who], cpu[who] = rows[:, _COL["loop_lag_ms"]], rows[:, _COL["cpu_percent"]]
        return lag, cpu

    def _status_now(self, lost: np.ndarray, finished: np.ndarray, final: bool,
                    merged: MergedParts) -> SourceStatus:
        """The run's status: every worker's last, a lost or finished one's as
        :meth:`WorkerSource.status_now` makes it, merged as
        :func:`~loadnb.metrics.payload.merge_status` merges them."""
        t = self._status.copy()
        running = np.array([w.running for w in self.workers], bool)
        t[~self._seen & running, _COL["phase"]] = PHASES.index("running")
        t[lost | finished | final, _COL["phase"]] = PHASES.index("done")
        zero = lost | (final & ~finished)
        t[np.ix_(zero, _ZEROED)] = 0
        rate = t[:, _COL["target_rate"]]
        rate[zero & ~np.isnan(rate)] = 0.0
        t[zero, _COL["progress"]], t[zero, _COL["eta"]] = 100.0, 0.0
        sums = t[:, _SUMMED].sum(axis=0).astype(np.int64).tolist()
        events = sorted(merged.events, key=lambda e: e[0])  # worker by worker, as one by one
        return SourceStatus(
            active_users=sums[0], in_flight=sums[1], waiting=sums[2], target_users=sums[3],
            target_rate=_nan_or(np.nansum, rate), phase=PHASES[int(t[:, _COL["phase"]].min())],
            dropped=sums[4], started=sums[5], progress=float(t[:, _COL["progress"]].mean()),
            eta=_nan_or(np.nanmax, t[:, _COL["eta"]]), events=[(e[1], e[2]) for e in events],
            loop_lag_ms=_nan_or(np.nanmax, t[:, _COL["loop_lag_ms"]]),
            cpu_percent=_nan_or(np.nanmax, t[:, _COL["cpu_percent"]]),
            workers=int((~lost).sum()), connected=sums[6],
            send_lag_p99_ms=_nan_or(np.nanmax, t[:, _COL["send_lag_p99_ms"]]))


def _nan_or(reduce: Any, column: Floats) -> float:
    """``reduce`` of the column's numbers (NaN: it has none)."""
    finite = column[~np.isnan(column)]
    return float(reduce(finite)) if finite.size else math.nan


__all__ = ["SETTLE_TICKS", "GroupedSource"]
