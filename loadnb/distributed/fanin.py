"""Fan-in: the workers of a large cluster merge their intervals in groups, so the driver merges
about the square root of their number of payloads a tick instead of all of them.

The layout (:func:`plan_groups`): above ``2 × G`` workers (``G`` = :data:`GROUP_SIZE`, or the
``LOADNB_FANIN`` environment variable of the driver: a group size, which then applies above
``G`` workers; ``0``: never), the workers are cut into groups of ``G`` consecutive indices; the
first of each is its leader. Small clusters publish directly, as they always did.

What travels is a *part* (:func:`member_part`, plain msgpack-able data): one or many workers'
intervals merged, and beside the merged stats what the driver needs of each worker they came from
(one row per interval: the worker, its interval number, the requests that ended there, its
status as numbers (:data:`STATUS_FIELDS`), and per name the requests it started minus those that
ended, to settle a lost worker's as cancelled). :class:`PartMerge` adds parts, whatever they hold,
and gives back one part (the leader: :meth:`PartMerge.take_part`) or the merged interval (the
driver: :meth:`PartMerge.take`): the stats in one :class:`~loadnb.metrics.packed.PackedMerge`
(one bincount of all histograms), the rows concatenated, so a merge of group merges is the merge
of all their members' intervals, exactly.

>>> from loadnb.metrics.codec import encode_payload
>>> from loadnb.metrics.payload import Payload, SourceStatus
>>> from loadnb.metrics.stats import IntervalStats
>>> one = encode_payload(Payload({"GET /": IntervalStats("GET /", started=3, completed=2)},
...                              SourceStatus(active_users=1, workers=1)))
>>> merge = PartMerge()
>>> merge.add(member_part(one, 0, 1)); merge.add(member_part(one, 1, 1))
>>> group = merge.take_part()
>>> merge.add(group); back = merge.take()
>>> back.stats["GET /"].started, back.rows.index.tolist(), back.open_delta.tolist()
(6, [0, 1], [1, 1])
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..metrics.codec import decode, decode_streams, encode
from ..metrics.custom import CustomMetric
from ..metrics.packed import PackedMerge, pack_stats
from ..metrics.payload import PHASES, Payload, SourceStatus, merge_payloads
from ..metrics.stats import IntervalStats

#: Workers per group (about the square root of a thousand).
GROUP_SIZE = 32
#: The driver's environment variable that sets the group size (``0``: never fan in).
ENV = "LOADNB_FANIN"
#: A group's topic (by group number: the scheduler keeps a bounded log per topic, and these
#: names are the same for every run, so their number stays bounded however many runs come).
GROUP_TOPIC = "loadnb-group-{}"
#: A worker's status as numbers, one row per interval (``phase``: its index in ``PHASES``).
STATUS_FIELDS = ("active_users", "in_flight", "waiting", "target_users", "target_rate",
                 "dropped", "started", "progress", "eta", "loop_lag_ms", "cpu_percent",
                 "connected", "send_lag_p99_ms", "phase")
S = len(STATUS_FIELDS)
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Group:
    """One group of workers: its number, its members' indices (the first leads), its topic."""

    number: int
    members: tuple[int, ...]

    @property
    def leader(self) -> int:
        return self.members[0]

    @property
    def topic(self) -> str:
        return GROUP_TOPIC.format(self.number)


def group_size(env: Mapping[str, str] | None = None) -> tuple[int, bool]:
    """The group size, and whether it was set (``LOADNB_FANIN``) rather than the default."""
    text = (os.environ if env is None else env).get(ENV, "").strip()
    if not text:
        return GROUP_SIZE, False
    if not text.isdigit():
        raise ValueError(f"{ENV} must be a group size (a whole number >= 0), got {text!r}")
    return int(text), True


def plan_groups(n: int, env: Mapping[str, str] | None = None) -> list[Group]:
    """The groups of ``n`` workers (none: every worker publishes directly to the driver)."""
    size, forced = group_size(env)
    if size < 2 or n <= (size if forced else 2 * size):
        return []
    return [Group(g, tuple(range(start, min(start + size, n))))
            for g, start in enumerate(range(0, n, size))]


def status_row(status: SourceStatus) -> list[float]:
    """``status`` as one row of :data:`STATUS_FIELDS`."""
    return [float(getattr(status, f)) for f in STATUS_FIELDS[:-1]] + [
        float(PHASES.index(status.phase) if status.phase in PHASES else 1)]


def member_part(plain: Mapping[str, Any], index: int, seq: int) -> dict[str, Any]:
    """One worker's encoded interval (:func:`~loadnb.metrics.codec.encode_payload`) as a part:
    from worker ``index``, its interval ``seq`` (``0``: its final, settled payload)."""
    packed = plain["packed"]
    ints = np.frombuffer(packed["ints"], "<i8").reshape(-1, 8)
    status = decode(SourceStatus, plain["status"])
    delta = ints[:, 0] - ints[:, 1] - ints[:, 2] - ints[:, 3]
    slot = np.flatnonzero(delta)
    return {"packed": packed,
            "rows": [[index, seq, int((ints[:, 1] + ints[:, 2]).sum())]],
            "status": np.array(status_row(status), "<f8").tobytes(),
            "events": [[index, t, text] for t, text in status.events],
            "open": [np.full(len(slot), index, "<i8").tobytes(), slot.astype("<i8").tobytes(),
                     delta[slot].astype("<i8").tobytes()],
            "custom": plain.get("custom") or {}, "connections": plain.get("connections"),
            "messages": plain.get("messages") or {}, "slowest": plain.get("slowest") or []}


@dataclass
class Rows:
    """One row per interval a merge holds: the worker, its interval number, the requests that
    ended there, its status (``len × S``)."""

    index: Ints
    seq: Ints
    requests: Ints
    status: Floats


@dataclass
class MergedParts:
    """A merge of parts, for the driver: stats by name, the rows, each name's open-request
    changes per worker (``open_owner``, ``open_slot`` in :attr:`PartMerge.names`,
    ``open_delta``), the events (``(worker, elapsed, text)``) and the rest of the payload."""

    stats: dict[str, IntervalStats]
    rows: Rows
    open_owner: Ints
    open_slot: Ints
    open_delta: Ints
    events: list[tuple[int, float, str]] = field(default_factory=list)
    streams: Payload = field(default_factory=lambda: Payload({}, SourceStatus()))


class PartMerge:
    """Adds parts (:meth:`add`), then gives their sum: a part (:meth:`take_part`, what a leader
    publishes) or a :class:`MergedParts` (:meth:`take`, what the driver records)."""

    def __init__(self) -> None:
        self._stats = PackedMerge()
        self._parts: list[Mapping[str, Any]] = []

    @property
    def names(self) -> list[str]:
        """Every request name seen, by slot (as :attr:`PackedMerge.names`)."""
        return self._stats.names

    @property
    def pending(self) -> int:
        """How many parts were added since the last take."""
        return len(self._parts)

    def add(self, part: Mapping[str, Any]) -> None:
        """Add one part (a worker's interval, or a merge of many)."""
        self._stats.add(part["packed"])
        self._parts.append(part)

    def take(self) -> MergedParts:
        """The sum of the parts added since the last take."""
        parts, self._parts = self._parts, []
        stats = self._stats.take().stats
        rows = [r for p in parts for r in p["rows"]]
        table = np.array(rows, np.int64).reshape(-1, 3)
        status = np.concatenate([np.frombuffer(p["status"], "<f8") for p in parts]) \
            if parts else np.zeros(0)
        owner, slot, delta = self._open(parts)
        rows_ = Rows(table[:, 0], table[:, 1], table[:, 2], status.reshape(-1, S))
        return MergedParts(
            stats, rows_, owner, slot, delta,
            [(int(i), float(t), str(x)) for p in parts for i, t, x in p["events"]],
            _streams(parts))

    def _open(self, parts: list[Mapping[str, Any]]) -> tuple[Ints, Ints, Ints]:
        """Every part's open-request changes, their slots made this merge's."""
        owners, slots, deltas = [], [], []
        for p in parts:
            owner, slot, delta = (np.frombuffer(b, "<i8") for b in p["open"])
            owners.append(owner)
            slots.append(self._stats.slots_of(p["packed"]["names"])[slot])
            deltas.append(delta)
        if not parts:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        return np.concatenate(owners), np.concatenate(slots), np.concatenate(deltas)

    def take_part(self) -> dict[str, Any]:
        """The sum of the parts added since the last take, as one part."""
        merged = self.take()
        names = list(merged.stats)
        where = np.full(len(self.names), -1, np.int64)
        where[self._stats.slots_of(names)] = np.arange(len(names))
        rows = merged.rows
        streams = merged.streams
        return {"packed": pack_stats(merged.stats),
                "rows": np.stack([rows.index, rows.seq, rows.requests], 1).tolist(),
                "status": rows.status.astype("<f8").tobytes(),
                "events": [list(e) for e in merged.events],
                "open": [merged.open_owner.astype("<i8").tobytes(),
                         where[merged.open_slot].astype("<i8").tobytes(),
                         merged.open_delta.astype("<i8").tobytes()],
                "custom": {n: encode(m) for n, m in streams.custom.items()},
                "connections": encode(streams.connections),
                "messages": {n: encode(m) for n, m in streams.messages.items()},
                "slowest": [list(s) for s in streams.slowest]}


def _streams(parts: Sequence[Mapping[str, Any]]) -> Payload:
    """The parts' custom metrics, connections, message streams and slowest requests, merged
    (parts of one interval: a gauge's last values add up)."""
    if not parts:
        return Payload({}, SourceStatus())
    return merge_payloads([
        Payload({}, SourceStatus(),
                {n: decode(CustomMetric, m) for n, m in p["custom"].items()},
                **decode_streams(p)) for p in parts] + [Payload({}, SourceStatus())])


__all__ = ["ENV", "GROUP_SIZE", "GROUP_TOPIC", "STATUS_FIELDS", "Group", "MergedParts",
           "PartMerge", "Rows", "group_size", "member_part", "plan_groups", "status_row"]
