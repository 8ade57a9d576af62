"""What each Dask worker runs: its share of the load, on its own uvloop loop.

:func:`run_share` is the one task a run submits to each worker. It gets the spec pickled by the
driver (bytes the scheduler passes on untouched) and the scenario files it needs as text
(:mod:`~loadnb.distributed.files`), builds the worker's share of the spec
(:func:`~loadnb.distributed.split.share_spec`), and runs the same engine assembly as a run in one
process (:func:`~loadnb.engine.assembly.assemble`) on a fresh event loop in the worker's task
thread (:func:`~loadnb.engine.loop.run_to_end`: the worker's own loop, and its heartbeats, stay
free). Once ready it says so (a ``ready`` event) and waits for the driver's :func:`start_run`, so
that every worker starts its load at once, when the driver's clock starts; then the one tick
loop (:class:`~loadnb.engine.ticker.Ticker`) publishes every interval's payload, encoded
(:mod:`loadnb.metrics.codec`), with ``log_event``. It returns the final, settled payload and the
number of intervals it published, so the driver knows when it has them all.

On a large cluster the shares fan in (:mod:`~loadnb.distributed.fanin`): each publishes its
intervals as parts on its group's topic, and the group's leader merges them into one part for the
driver (:mod:`~loadnb.distributed.leader`).

The driver reaches a running share through ``client.run`` of :func:`start_run`,
:func:`stop_run`, :func:`set_target` and :func:`fail_over`, which find it by run id in this
module's registry and hand the change to its loop thread-safely. A stop that arrives before the
share has started is remembered.
"""

from __future__ import annotations

import asyncio
import math
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._version import __version__
from ..engine.assembly import Assembly, assemble
from ..engine.generator import Engine
from ..engine.loop import run_to_end
from ..engine.ticker import Ticker
from ..metrics.codec import encode_payload
from ..metrics.payload import Payload
from ..spec.config import LoadSpec
from .fanin import Group, member_part
from .files import Module, forget_modules, install_modules, is_installed
from .leader import Leader, Route, members_grace
from .split import share_spec

Publish = Callable[[dict[str, Any]], None]
#: Longest wait for the driver's start once ready (seconds): a share whose driver is gone ends.
START_TIMEOUT = 120.0


@dataclass
class _Share:
    """A running share, as the driver's setters see it."""

    index: int
    loop: asyncio.AbstractEventLoop
    engine: Engine
    go: asyncio.Event
    warnings: list[str] = field(default_factory=list)
    route: Route | None = None

    def stop(self) -> None:
        """Stop the load (or, before it started, make it end at once); on the share's loop."""
        self.engine.stop()
        self.go.set()


_LOCK = threading.Lock()
_RUNS: dict[str, _Share] = {}
_STOPPED: set[str] = set()
_PENDING: dict[str, dict[int, float]] = {}


def version() -> str:
    """The loadnb version installed here (the driver checks it matches its own)."""
    return __version__


def stop_run(run_id: str) -> bool:
    """Stop this worker's share of ``run_id`` now (or as soon as it starts); True if running."""
    with _LOCK:
        share = _RUNS.get(run_id)
        if share is None:
            _STOPPED.add(run_id)
            return False
    share.loop.call_soon_threadsafe(share.stop)
    return True


def start_run(run_id: str) -> bool:
    """Start this worker's (ready) share of ``run_id`` now; True if it was waiting."""
    with _LOCK:
        share = _RUNS.get(run_id)
    if share is None:
        return False
    share.loop.call_soon_threadsafe(share.go.set)
    return True


def set_target(run_id: str, targets: dict[int, float]) -> bool:
    """Set this worker's share of a live change (``targets`` by worker index); True if applied."""
    with _LOCK:
        share = _RUNS.get(run_id)
        if share is None:
            _PENDING[run_id] = dict(targets)
            return False
    if share.index not in targets:
        return False
    share.loop.call_soon_threadsafe(share.engine.set_target, float(targets[share.index]))
    return True


def fail_over(run_id: str, group: int, have: dict[int, int]) -> int:
    """The leader of worker group ``group`` is lost, and the driver has each member's intervals
    up to ``have[index]``: this worker's share of ``run_id``, if it is in that group, publishes
    the later ones again and every one from now on directly to the driver; how many again (-1:
    not in that group)."""
    with _LOCK:
        share = _RUNS.get(run_id)
    route = None if share is None else share.route
    if share is None or route is None or route.group is None or route.group.number != group:
        return -1
    return route.fail_over(int(have.get(share.index, 0)))


def run_share(blob: bytes, modules: list[Module], run_id: str, index: int, n: int,
              topic: str, group: tuple[int, list[int]] | None = None) -> dict[str, Any]:
    """Run worker ``index`` of ``n``'s share of the pickled spec ``blob`` (after installing the
    scenario ``modules`` it refers to); publish each interval on ``topic`` (or, in ``group``
    ``(number, members)``, to the group's leader, the first member); return ``{"index",
    "sent", "payload", "warnings", "elapsed"}``: the final settled payload and how long the
    load lasted here (seconds from the start)."""
    from distributed import get_client, get_worker

    worker = get_worker()
    try:
        if modules and not is_installed(run_id):
            failed = install_modules(run_id, modules)
            if failed:
                raise RuntimeError(failed)
        spec = pickle.loads(blob)  # noqa: S301 - the driver's own spec
        if not isinstance(spec, LoadSpec):
            raise TypeError(f"expected a LoadSpec, got {type(spec).__name__}")
        share = share_spec(spec, index, n)
        fanin = None if group is None else Group(group[0], tuple(group[1]))
        route = Route(worker.log_event, topic, fanin)
        leader = None
        if fanin is not None and fanin.leader == index:
            leader = Leader(get_client(), worker.log_event, run_id, index, fanin, topic)
        return run_to_end(_main(share, run_id, index, route, leader))
    finally:
        forget_modules(run_id)


async def _main(spec: LoadSpec, run_id: str, index: int, route: Route,
                leader: Leader | None) -> dict[str, Any]:
    warnings: list[str] = []
    parts = await assemble(spec, warn=warnings.append)
    share = _Share(index, asyncio.get_running_loop(), parts.engine, asyncio.Event(), warnings,
                   route)
    _register(run_id, share)
    publisher = _Publisher(parts, run_id, index, route.publish if leader is None else leader.own,
                           warnings, grouped=route.group is not None)
    ticker = Ticker(spec.interval, publisher.tick)
    task: asyncio.Task[None] | None = None
    try:
        if leader is not None:
            await leader.subscribe()
        await parts.engine.warm_up()
        route.log_event(route.topic, {"run": run_id, "index": index, "ready": True})
        try:
            await asyncio.wait_for(share.go.wait(), START_TIMEOUT)
        except asyncio.TimeoutError:
            share.stop()
        started = publisher.restart()
        task = asyncio.get_running_loop().create_task(ticker.run())
        await parts.engine.run()
        await _stop_ticking(task)
        route.publish({"run": run_id, "index": index, "end": publisher.sent})
        if leader is not None:  # its members may still be in their grace
            await leader.finish(members_grace(spec))
    finally:
        await _stop_ticking(task)
        if leader is not None:
            leader.close()
        await parts.aclose()
        _forget(run_id)
    elapsed = time.perf_counter() - started
    final = publisher.stamp(parts.source.collect(final=True), ticker.lag)
    return {"index": index, "sent": publisher.sent, "payload": encode_payload(final),
            "warnings": publisher.take_warnings(), "elapsed": elapsed}


async def _stop_ticking(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _register(run_id: str, share: _Share) -> None:
    """Make ``share`` reachable by the driver's setters (and apply what came before it)."""
    with _LOCK:
        _RUNS[run_id] = share
        if run_id in _STOPPED:
            share.stop()
        pending = _PENDING.pop(run_id, {})
        if share.index in pending:
            share.engine.set_target(float(pending[share.index]))


def _forget(run_id: str) -> None:
    with _LOCK:
        _RUNS.pop(run_id, None)
        _STOPPED.discard(run_id)
        _PENDING.pop(run_id, None)


class _Publisher:
    """Publishes the share's interval at every tick, with its own loop lag and CPU."""

    def __init__(self, parts: Assembly, run_id: str, index: int, publish: Publish,
                 warnings: list[str], *, grouped: bool = False) -> None:
        self.parts, self.publish, self.grouped = parts, publish, grouped
        self.run_id, self.index = run_id, index
        self.sent = 0
        self._warnings, self._told = warnings, 0
        self._last_t, self._last_cpu = time.perf_counter(), time.process_time()

    def restart(self) -> float:
        """The load starts now: the first interval's CPU is measured from here."""
        self._last_t, self._last_cpu = time.perf_counter(), time.process_time()
        return self._last_t

    def take_warnings(self) -> list[str]:
        new = self._warnings[self._told:]
        self._told += len(new)
        return new

    def stamp(self, payload: Payload, lag: float) -> Payload:
        """``payload`` with this process's loop lag (``lag`` s, shown in ms) and CPU (percent)
        since the last one."""
        now, cpu = time.perf_counter(), time.process_time()
        dt = now - self._last_t
        payload.status.cpu_percent = 100.0 * (cpu - self._last_cpu) / dt if dt >= 0.01 \
            else math.nan
        payload.status.loop_lag_ms = lag * 1e3
        payload.status.workers = 1
        self._last_t, self._last_cpu = now, cpu
        return payload

    def tick(self, lag: float) -> None:
        """One interval: collect, stamp, publish (the :class:`Ticker`'s callback)."""
        payload = self.stamp(self.parts.source.collect(final=False), lag)
        self.sent += 1
        plain = encode_payload(payload)
        body = ({"part": member_part(plain, self.index, self.sent)} if self.grouped
                else {"payload": plain})
        self.publish({"run": self.run_id, "index": self.index, "seq": self.sent, **body,
                      "warnings": self.take_warnings()})


__all__ = ["fail_over", "run_share", "set_target", "start_run", "stop_run", "version"]
