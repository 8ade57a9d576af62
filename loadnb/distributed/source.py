"""A worker as the driver sees it: a :class:`~loadnb.engine.source.Source` fed by the worker's
events.

Each worker publishes its interval payloads (encoded, :mod:`loadnb.metrics.codec`); its
:class:`WorkerSource` buffers them as they arrive and hands the monitor, at each of the driver's
ticks, what arrived since the last one as one payload, so intervals are merged on the driver's
boundaries, not on each worker's clock. A lost worker's requests never reported ended are settled
as cancelled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections import deque
from typing import Any

from ..metrics.codec import decode_payload
from ..metrics.custom import CustomMetric
from ..metrics.payload import Payload, SourceStatus
from ..metrics.stats import IntervalStats, merge_by_name


class WorkerSource:
    """One worker, seen from the driver: buffers the payloads received from it and, at each of
    the monitor's ticks, returns what arrived since the last one as one payload.

    Example::

        source = WorkerSource(0, "tcp://127.0.0.1:40001")
        source.receive(msg)               # from the event subscription, any time
        payload = source.collect(final=False)
    """

    def __init__(self, index: int, address: str) -> None:
        self.index, self.address = index, address
        self.received = 0
        self.lost = False
        self.finished = False
        self.ready = False  # its share is built and waits for the start
        self._buffer: deque[dict[str, Any]] = deque()
        self._status = SourceStatus(phase="idle", workers=1)
        self._started: dict[str, int] = {}
        self._ended: dict[str, int] = {}
        self._settled = False
        self._arrival: asyncio.Event | None = None

    @property
    def alive(self) -> bool:
        """Whether the worker still counts (not lost)."""
        return not self.lost

    def receive(self, plain: dict[str, Any]) -> None:
        """One interval payload (encoded) from the worker."""
        self._buffer.append(plain)
        self.received += 1
        if self._arrival is not None:
            self._arrival.set()

    async def wait_for(self, count: int, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until ``count`` intervals have arrived; True if so."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._arrival = asyncio.Event()
        try:
            while self.received < count:
                left = deadline - loop.time()
                if left <= 0:
                    return False
                self._arrival.clear()
                try:
                    await asyncio.wait_for(self._arrival.wait(), left)
                except asyncio.TimeoutError:
                    return self.received >= count
            return True
        finally:
            self._arrival = None

    def finish(self, plain: dict[str, Any]) -> None:
        """The worker's final, settled payload (its task's result)."""
        self._buffer.append(plain)
        self.finished = True

    def start(self) -> None:
        """Its share has started: it runs (as far as the driver knows) until it says otherwise."""
        if not self.lost:
            self._status.phase = "running"

    def lose(self) -> None:
        """The worker is gone: what it never finished is counted as cancelled at the next tick."""
        self.lost = True

    def collect(self, *, final: bool) -> Payload:
        parts = [decode_payload(self._buffer.popleft()) for _ in range(len(self._buffer))]
        stats: dict[str, IntervalStats] = {}
        custom: dict[str, CustomMetric] = {}
        events: list[tuple[float, str]] = []
        for part in parts:
            merge_by_name(stats, part.stats)
            for name, metric in part.custom.items():
                mine = custom.get(name)
                if mine is None:
                    custom[name] = mine = CustomMetric(name, metric.kind)
                if mine.kind == metric.kind:
                    mine.merge(metric, later=True)
            events.extend(part.status.events)
            self._status = part.status
        for name, iv in stats.items():
            self._started[name] = self._started.get(name, 0) + iv.started
            self._ended[name] = self._ended.get(name, 0) + iv.finished
        if (self.lost or (final and not self.finished)) and not self._settled:
            self._settle(stats)
        status = dataclasses.replace(self._status, events=events)
        if self.lost or self.finished or final:
            status.phase = "done"
        if self.lost or (final and not self.finished):
            status.active_users = status.in_flight = status.waiting = status.target_users = 0
            status.target_rate = math.nan if math.isnan(status.target_rate) else 0.0
            status.progress, status.eta = 100.0, 0.0  # its part will not move any more
        status.workers = 0 if self.lost else 1
        return Payload(stats, status, custom)

    def _settle(self, stats: dict[str, IntervalStats]) -> None:
        """Count the requests the worker started and never ended (as far as the driver knows)
        as cancelled."""
        self._settled = True
        for name, started in self._started.items():
            open_ = started - self._ended.get(name, 0)
            if open_ > 0:
                iv = stats.get(name)
                if iv is None:
                    stats[name] = iv = IntervalStats(name)
                iv.cancelled += open_
                self._ended[name] = started


__all__ = ["WorkerSource"]
