"""A fanned-in share's side (:mod:`~.fanin`): where its intervals go (:class:`Route`), and, for
the first worker of a group, the merge of its members' (:class:`Leader`).

A member publishes each interval as a part on its group's topic; once its load has ended, an
``end`` message saying how many it sent. It keeps its last :data:`KEEP` intervals: if the driver
says the group's leader is lost (:func:`~loadnb.distributed.worker.fail_over`, with the last
interval it has from each member), the member publishes again, directly to the driver, those the
driver never got, and publishes directly from then on. (The driver has then received all that
the lost leader published: Dask forwards a worker's events before it reports the worker lost, on
the same stream.)

The leader subscribes to the group's topic through the worker's Dask client (its handler runs on
the worker's own loop and only appends to a deque: the share's loop takes them at its tick). It
makes sure the subscription is in effect before saying it is ready (a probe it publishes comes
back). At each of its ticks it merges its own interval and every member part that arrived
(late ones included: they join the next tick's part, counts stay exact) into one part for the
driver. Once its own load has ended, it waits (at most :data:`END_WAIT` s) for each member's
``end`` and the intervals before it, then publishes what is left.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..spec.config import LoadSpec
from .fanin import Group, PartMerge

#: Longest wait of a leader for its members' last intervals once its own load has ended (s),
#: beyond the grace its members' requests in flight may take (:func:`end_wait`).
END_WAIT = 5.0
#: How often a leader still waiting for its members publishes what it has (s).
FLUSH_EVERY = 0.25
#: Longest wait for the leader's subscription to be in effect (s).
SUBSCRIBE_TIMEOUT = 30.0
#: How many of its last intervals a member keeps, to publish again if its leader is lost.
KEEP = 32
LogEvent = Callable[[str, dict[str, Any]], None]


class Route:
    """Where a share publishes: the driver's topic, or its group's (until :meth:`fail_over`)."""

    def __init__(self, log_event: LogEvent, topic: str, group: Group | None) -> None:
        self.log_event, self.topic, self.group = log_event, topic, group
        self.direct = group is None
        self.kept: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._lock = threading.Lock()  # the share's thread publishes, the worker's fails over

    def fail_over(self, have: int) -> int:
        """The group's leader is lost and the driver has this member's intervals up to ``have``:
        publish the later ones again, to the driver, and every one from now on; how many."""
        with self._lock:
            self.direct = True
            again = [m for m in self.kept if int(m.get("seq", 0)) > have]
            for msg in again:
                self.log_event(self.topic, msg)
            self.kept.clear()
        return len(again)

    def publish(self, msg: dict[str, Any]) -> None:
        """An interval (or the ``end``): to the group's topic, or the driver's."""
        with self._lock:
            if self.direct or self.group is None:
                if "end" not in msg:
                    self.log_event(self.topic, msg)
                return
            if "seq" in msg:
                self.kept.append(msg)
            self.log_event(self.group.topic, msg)


class Leader:
    """A group leader's merge of its members' parts (its own interval comes with :meth:`own`)."""

    def __init__(self, client: Any, log_event: LogEvent, run_id: str, index: int, group: Group,
                 topic: str) -> None:
        self.client, self.log_event = client, log_event
        self.run_id, self.index, self.group, self.topic = run_id, index, group, topic
        self.inbox: deque[dict[str, Any]] = deque()
        self._merge = PartMerge()
        self._ends: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._probed = False
        self._warnings: list[str] = []

    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        """On the worker's loop: keep the run's messages for the share's loop."""
        msg = event[1]
        if isinstance(msg, dict) and msg.get("run") == self.run_id:
            self.inbox.append(msg)

    async def subscribe(self) -> None:
        """Subscribe to the group's topic; return once a probe published there came back."""
        self.client.subscribe_topic(self.group.topic, self._on_event)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIBE_TIMEOUT
        while not self._probed:
            if loop.time() > deadline:
                raise RuntimeError(f"the leader of worker group {self.group.number} could not "
                                   f"subscribe to its topic within {SUBSCRIBE_TIMEOUT:g} s")
            self.log_event(self.group.topic, {"run": self.run_id, "index": self.index,
                                              "probe": True})
            for _ in range(50):  # a probe a second until one comes back
                await asyncio.sleep(0.02)
                self._drain()
                if self._probed:
                    break

    def close(self) -> None:
        """Stop listening (what arrives after is lost: the driver's count says so)."""
        try:
            self.client.unsubscribe_topic(self.group.topic)
        except Exception:  # noqa: BLE001 - not subscribed, or the client is closing (its own
            pass  # ClosedClientError among them): the share must still close what it opened

    def _drain(self) -> None:
        """Add what arrived to the merge (and the members' warnings to the next part's)."""
        while self.inbox:
            msg = self.inbox.popleft()
            index = int(msg.get("index", -1))
            if msg.get("probe"):
                self._probed = self._probed or index == self.index
            elif "end" in msg:
                self._ends[index] = int(msg["end"])
            elif "part" in msg:
                self._merge.add(msg["part"])
                self._last[index] = max(self._last.get(index, 0), int(msg.get("seq", 0)))
                self._warnings.extend(msg.get("warnings") or ())

    def own(self, msg: dict[str, Any]) -> None:
        """The leader's own interval: merged with what its members sent, published as one."""
        self.inbox.append(msg)
        self._publish()

    def _publish(self) -> None:
        self._drain()
        if not self._merge.pending:
            return
        warnings, self._warnings = self._warnings, []
        self.log_event(self.topic, {"run": self.run_id, "index": self.index,
                                    "group": self.group.number, "part": self._merge.take_part(),
                                    "warnings": warnings})

    async def finish(self, grace: float = 0.0) -> None:
        """Wait for every member's last intervals — a member's load may go on for ``grace`` s
        (its requests in flight) after the leader's ended, then :data:`END_WAIT` s more at most
        — publishing what arrives every :data:`FLUSH_EVERY` s, and the rest at the end."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace + END_WAIT
        flush = loop.time() + FLUSH_EVERY
        others = [m for m in self.group.members if m != self.index]
        while loop.time() < deadline:
            self._drain()
            if all(m in self._ends and self._last.get(m, 0) >= self._ends[m] for m in others):
                break
            if loop.time() >= flush:
                self._publish()
                flush = loop.time() + FLUSH_EVERY
            await asyncio.sleep(0.02)
        self._publish()


def members_grace(spec: LoadSpec) -> float:
    """How long a member's load may go on after its leader's ended: its requests in flight
    get ``min(timeout, graceful_stop)``, and its last interval comes an interval later (what
    :meth:`Leader.finish` is given)."""
    return min(spec.timeout, spec.graceful_stop) + spec.interval


def end_wait(spec: LoadSpec) -> float:
    """How long after a member's share returned the driver may wait for its last intervals
    through its leader: the leader's wait (:func:`members_grace`, then :data:`END_WAIT`)."""
    return members_grace(spec) + END_WAIT


__all__ = ["END_WAIT", "FLUSH_EVERY", "KEEP", "Leader", "Route", "end_wait", "members_grace"]
