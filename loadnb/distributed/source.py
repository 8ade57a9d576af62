"""The workers as the driver sees them: one :class:`~loadnb.engine.source.Source` fed by their
events.

Each worker publishes its interval payloads (encoded, :mod:`loadnb.metrics.codec`); its
:class:`WorkerSource` buffers them as they arrive, and at each of the driver's ticks the one
:class:`ClusterSource` merges what arrived from every worker since the last one, so intervals are
merged on the driver's boundaries, not on each worker's clock, and in a few numpy passes
whatever the number of workers (:class:`~loadnb.metrics.packed.PackedMerge`). A lost worker's
requests never reported ended are settled as cancelled.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..metrics.codec import decode, decode_payload, decode_streams
from ..metrics.custom import CustomMetric
from ..metrics.packed import PackedMerge, pack_stats
from ..metrics.payload import Payload, SourceStatus, WorkerInterval, merge_payloads
from ..metrics.stats import IntervalStats


class WorkerSource:
    """One worker, seen from the driver: buffers the payloads received from it until the
    :class:`ClusterSource`'s next tick takes them; knows whether it is ready, lost or done."""

    def __init__(self, index: int, address: str) -> None:
        self.index, self.address = index, address
        self.received = 0
        self.last_seq = 0  # the highest interval number received from it
        self.lost = False
        self.finished = False
        self.ready = False  # its share is built and waits for the start
        self.running = False  # its share started (as far as the driver knows)
        self._buffer: deque[dict[str, Any]] = deque()
        self._status = SourceStatus(phase="idle", workers=1)
        self._settled = False
        self._arrival: asyncio.Event | None = None

    @property
    def alive(self) -> bool:
        """Whether the worker still counts (not lost)."""
        return not self.lost

    def receive(self, plain: dict[str, Any]) -> None:
        """One interval payload (encoded) from the worker."""
        self._buffer.append(plain)
        self.arrived()

    def arrived(self, seq: int = 0) -> None:
        """One more of its intervals (number ``seq``) has arrived (here, or in a group's part)."""
        self.received += 1
        self.last_seq = max(self.last_seq, seq)
        if self._arrival is not None:
            self._arrival.set()

    @property
    def has_news(self) -> bool:
        """Whether payloads wait for the next :meth:`take`."""
        return bool(self._buffer)

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
            self.running = True

    def lose(self) -> None:
        """The worker is gone: what it never finished is counted as cancelled at the next tick."""
        self.lost = True

    def take(self) -> list[dict[str, Any]]:
        """The payloads (encoded) that arrived since the last take."""
        parts = list(self._buffer)
        self._buffer.clear()
        return parts

    def status_now(self, status: SourceStatus | None, events: list[tuple[float, str]], *,
                   final: bool) -> SourceStatus:
        """Its status at this tick: the last one it sent (``status``, or the one before), with
        the interval's ``events``; a lost or finished worker's part will not move any more."""
        if status is not None:
            self._status = status
        out = copy.copy(self._status)  # (dataclasses.replace: 10x slower, per worker a tick)
        out.events = events
        if self.lost or self.finished or final:
            out.phase = "done"
        if self.lost or (final and not self.finished):
            out.active_users = out.in_flight = out.waiting = out.target_users = 0
            out.target_rate = math.nan if math.isnan(out.target_rate) else 0.0
            out.progress, out.eta = 100.0, 0.0
        out.workers = 0 if self.lost else 1
        return out

    def must_settle(self, final: bool) -> bool:
        """Whether its requests never reported ended are to be counted as cancelled now (it was
        lost, or the run ended without its final payload); once."""
        if self._settled or not (self.lost or (final and not self.finished)):
            return False
        self._settled = True
        return True


class ClusterSource:
    """Every worker of a run as one :class:`~loadnb.engine.source.Source`: at each tick, what
    arrived from all of them since the last one, merged in a few numpy passes (the workers'
    stats come packed by column: :mod:`loadnb.metrics.packed`); statuses and custom metrics
    merged as the monitor merges sources. A lost worker's requests never reported ended are
    counted as cancelled.

    Example::

        workers = [WorkerSource(0, "tcp://127.0.0.1:40001"), WorkerSource(1, "tcp://...")]
        source = ClusterSource(workers)
        workers[0].receive(msg["payload"])   # from the event subscription, any time
        payload = source.collect(final=False)
    """

    def __init__(self, workers: Sequence[WorkerSource]) -> None:
        self.workers = list(workers)
        self._merge = PackedMerge()
        n = len(self.workers)
        # per worker and name slot: requests started, and ended, as far as the driver knows
        self._started = np.zeros((n, 0), np.int64)
        self._ended = np.zeros((n, 0), np.int64)

    def collect(self, *, final: bool) -> Payload:
        merge, parts, own = self._merge, [], []
        for i, worker in enumerate(self.workers):
            custom: dict[str, CustomMetric] = {}
            events: list[tuple[float, str]] = []
            status = None
            streams: list[Payload] = []
            for plain in worker.take():
                packed, status, metrics = _unpack(plain)
                merge.add(packed, i)
                streams.append(Payload({}, status, {}, **decode_streams(plain)))
                events.extend(status.events)
                for name, metric in metrics.items():
                    mine = custom.get(name)
                    if mine is None:
                        custom[name] = mine = CustomMetric(name, metric.kind)
                    if mine.kind == metric.kind:
                        mine.merge(metric, later=True)
            own.append(status)
            parts.append(Payload({}, worker.status_now(status, events, final=final), custom,
                                 **_streams_of(streams)))
        merged = merge.take()
        self._account(merged.owners, merged.slots, merged.ints)
        for i, worker in enumerate(self.workers):
            if worker.must_settle(final):
                self._settle(i, merged.stats)
        payload = merge_payloads(parts)
        return Payload(merged.stats, payload.status, payload.custom,
                       connections=payload.connections, messages=payload.messages,
                       slowest=payload.slowest,
                       workers=self._each(merged.owners, merged.ints, own))

    def _each(self, owners: npt.NDArray[np.int64], ints: npt.NDArray[np.int64],
              own: list[SourceStatus | None]) -> tuple[WorkerInterval, ...]:
        """Each worker's part of the tick: requests that ended there (answered or failed), and
        the loop lag and CPU it measured itself (NaN: nothing arrived from it)."""
        answered = np.bincount(owners, ints[:, 1] + ints[:, 2], minlength=len(self.workers))
        nan = math.nan
        return tuple(
            WorkerInterval(i, int(answered[i]), nan if s is None else s.loop_lag_ms,
                           nan if s is None else s.cpu_percent, w.lost)
            for i, (w, s) in enumerate(zip(self.workers, own, strict=True)))

    def _account(self, owners: npt.NDArray[np.int64], slots: npt.NDArray[np.int64],
                 ints: npt.NDArray[np.int64]) -> None:
        """Add the tick's started and ended requests to each worker's counts by name."""
        need = len(self._merge.names)
        if need > self._started.shape[1]:
            grow = ((0, 0), (0, max(need, 2 * self._started.shape[1]) - self._started.shape[1]))
            self._started, self._ended = np.pad(self._started, grow), np.pad(self._ended, grow)
        np.add.at(self._started, (owners, slots), ints[:, 0])
        np.add.at(self._ended, (owners, slots), ints[:, 1] + ints[:, 2] + ints[:, 3])

    def _settle(self, index: int, stats: dict[str, IntervalStats]) -> None:
        """Count worker ``index``'s requests started and never ended as cancelled."""
        open_ = self._started[index] - self._ended[index]
        for slot in np.flatnonzero(open_ > 0).tolist():
            name = self._merge.names[slot]
            iv = stats.get(name)
            if iv is None:
                stats[name] = iv = IntervalStats(name)
            iv.cancelled += int(open_[slot])
        self._ended[index] = self._started[index]


def _streams_of(parts: list[Payload]) -> dict[str, Any]:
    """The connections, message streams and slowest requests of one worker's payloads of a
    tick, merged (as :class:`~loadnb.metrics.payload.Payload` keywords)."""
    if not parts:
        return {}
    merged = merge_payloads(parts)
    return {"connections": merged.connections, "messages": merged.messages,
            "slowest": merged.slowest}


def _unpack(plain: dict[str, Any]) -> tuple[dict[str, Any], SourceStatus,
                                            dict[str, CustomMetric]]:
    """One worker payload's packed stats, status and custom metrics (an older loadnb's payload,
    stats by name, is packed here)."""
    packed = plain.get("packed")
    if packed is None:
        old = decode_payload(plain)
        return pack_stats(old.stats), old.status, old.custom
    return (packed, decode(SourceStatus, plain["status"]),
            {name: decode(CustomMetric, m) for name, m in plain["custom"].items()})


__all__ = ["ClusterSource", "WorkerSource"]
