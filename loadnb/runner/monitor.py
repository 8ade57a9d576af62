"""The monitor: the one writer of a run's record.

Every interval the sources' payloads become one :class:`~loadnb.metrics.snapshot.Snapshot`
(:func:`~loadnb.runner.interval.make_snapshot`). The monitor adds it to the
:class:`~loadnb.record.record.RunRecord`, lets the alert engine and the threshold judge judge the
run so far (they return what they found; the monitor writes it), tells the alert listeners, and
hands one :class:`~loadnb.record.update.Update` to every sink (the history writer, the widget,
the console): the sinks only read. The target's scraped or watched series (``observe``,
:meth:`~loadnb.runner.observing.Observing.take`) reach the record here too. Warnings from
anywhere in the run come in through :meth:`Monitor.warn` and are written at the next tick; the
run's state through :meth:`Monitor.set_state`. A sink or listener that raises is removed with a
warning: a face can never stop the load. Clocks are injected (``clock`` for intervals, ``wall``
for timestamps, ``cpu`` for the process CPU time), so timing behaviour is testable on a fixed
sequence of ticks. A periodic tick closes the sources' intervals in one turn of the event loop,
builds the snapshot in a later one and records and tells it in a third (see
:meth:`Monitor._on_tick`), so the open model's pacer is not held up by a whole tick;
:meth:`Monitor.tick` (the final tick, or by hand) does it all at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence

from ..engine.source import Source
from ..engine.ticker import Ticker
from ..metrics.payload import Payload, merge_payloads
from ..metrics.snapshot import Snapshot
from ..metrics.stats import IntervalStats, merge_intervals
from ..record.record import RunRecord
from ..record.state import RunState
from ..record.update import Update
from ..rules.alert_engine import AlertEngine, AlertEvent, AlertNews, Listener
from .interval import Times, add_connections, make_snapshot
from .judge import ThresholdJudge
from .observing import Taken

Clock = Callable[[], float]
Sink = Callable[[Update], None]
Built = tuple[Snapshot, IntervalStats, float]  # a snapshot, its merged interval, its length


class Monitor:
    """Turns the sources' intervals into snapshots in ``record`` and fans them out to ``sinks``
    (the caller's list: sinks added to it later receive the following updates).

    Example::

        monitor = Monitor([source], record, [lambda update: print(update.snapshot)],
                          interval=0.5)
        monitor.begin()
        task = asyncio.create_task(monitor.run())  # ... then monitor.tick(final=True)
    """

    def __init__(self, sources: Sequence[Source], record: RunRecord, sinks: list[Sink], *,
                 interval: float, clock: Clock = time.perf_counter, wall: Clock = time.time,
                 cpu: Clock = time.process_time, alerts: AlertEngine | None = None,
                 judge: ThresholdJudge | None = None,
                 on_abort: Callable[[str], None] | None = None,
                 observe: Callable[[], Taken] | None = None) -> None:
        self.sources = list(sources)
        self.record, self.sinks, self.interval = record, sinks, interval
        self.alerts, self.judge, self.on_abort = alerts, judge, on_abort
        self.listeners: list[Listener] = []
        self.observe = observe
        self._server_rows: list[tuple[float, str, float]] = []
        self._clock, self._wall, self._cpu = clock, wall, cpu
        self.t0 = math.nan
        self._last_t = math.nan
        self._last_cpu = 0.0
        self._last_dropped = 0
        self._behind = 0.0
        self._inbox: list[str] = []
        self._live: dict[int, AlertEvent] = {}  # the engine's active event -> the record's copy
        self._ticker = Ticker(interval, self._on_tick, clock=clock)
        #: a periodic tick still to finish: its interval closed (payload, lag, end), or its
        #: snapshot built and not yet recorded; and its next turn
        self._half: tuple[Payload, float, float] | None = None
        self._built: tuple[Built, Payload] | None = None
        self._turn: asyncio.Handle | None = None

    # -- what others tell the record ---------------------------------------------------------
    def warn(self, text: str) -> None:
        """A plain-language warning of the run: written at the next tick (once per text)."""
        self._inbox.append(text)

    def flush(self) -> None:
        """Write the warnings told since the last tick (at the end of a run)."""
        inbox, self._inbox = self._inbox, []
        for text in inbox:
            self.record.warn(text)

    def set_state(self, state: RunState, error: str | None = None) -> None:
        """Write the run's state (and its failure, ``Type: message``)."""
        self.record.state = state
        if error is not None:
            self.record.error = error

    def run_started(self, cpu_from: float | None = None) -> None:
        """The run starts: its start-up's CPU counts from ``cpu_from`` (a CPU clock reading; 0.0
        is the process's start), or from now (None)."""
        self.record.cpu_at_start = self._cpu() if cpu_from is None else cpu_from

    def started(self, transport: str) -> None:
        """The backend is open: the transport that sends."""
        self.record.transport = transport

    def on_alert(self, fn: Listener) -> None:
        """Tell ``fn(event, "fired" | "cleared")`` when an alert rule fires or clears (after the
        record has it)."""
        self.listeners.append(fn)

    # -- ticks -------------------------------------------------------------------------------
    def begin(self, behind: float = 0.0) -> None:
        """Mark the start of the run's clock and of its first interval: when the load starts
        (what comes before, such as starting a cluster, is start-up, not load). ``behind``: the
        load started that long ago (the sources' intervals reach here that late): the intervals
        stay aligned with theirs, and the snapshots' wall times say when the load did it. The CPU
        clock's reading here ends the start-up's CPU (``record.cpu_at_load``)."""
        self._behind = behind
        self.t0 = self._last_t = self._clock()
        self._last_cpu = self.record.cpu_at_load = self._cpu()

    def _on_tick(self, lag: float) -> None:
        """A periodic tick, in three turns of the event loop, each after two hops of
        ``call_soon`` (both asyncio's loop and uvloop poll for I/O in between), so a callback
        due meanwhile — the open model's pacer — does not wait for the whole tick: the sources'
        intervals close now, at the clock's reading ``end``; the snapshot is built a turn later,
        the record untouched; it is recorded, judged and told in a third (the record and the
        sinks move together)."""
        self.settle()  # (one still unfinished goes first, whatever held the loop)
        end = self._clock()
        payload = merge_payloads([s.collect(final=False) for s in self.sources])
        self._half = (payload, lag, end)
        self._next(self._build_half)

    def _next(self, turn: Callable[[], None]) -> None:
        self._turn = asyncio.get_running_loop().call_soon(self._hop, turn)

    def _hop(self, turn: Callable[[], None]) -> None:
        self._turn = asyncio.get_running_loop().call_soon(turn)

    def _build_half(self) -> None:
        """The second turn: build the snapshot of the interval closed in the first."""
        self._turn = None
        self._built_now()
        if self._built is not None:
            self._next(self._commit_half)

    def _built_now(self) -> None:
        half, self._half = self._half, None
        if half is not None:
            payload, lag, end = half
            self._built = (self._build(payload, lag, False, end), payload)

    def _commit_half(self) -> None:
        """The third turn: record the built snapshot, judge, tell the sinks."""
        self._turn = None
        built, self._built = self._built, None
        if built is not None:
            self._commit(*built)

    def settle(self) -> None:
        """Finish a periodic tick whose later turns have not come yet (a final tick does first)."""
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None
        self._built_now()
        self._commit_half()

    async def run(self) -> None:
        """Tick every ``interval`` after :meth:`begin` until cancelled (the one tick loop,
        :class:`~loadnb.engine.ticker.Ticker`, which also measures the event-loop lag)."""
        await self._ticker.run(self.t0)

    def tick(self, *, lag: float = math.nan, final: bool = False,
             end: float | None = None) -> Snapshot:
        """Close the current interval: collect every source, record the snapshot, judge, tell
        the sinks (``final``: the run has ended; sources settle what never ended as cancelled;
        ``end``: the clock's reading when the load ended, if that was before now: tearing down
        is not load)."""
        self.settle()
        payload = merge_payloads([s.collect(final=final) for s in self.sources])
        return self._complete(payload, lag, final, end)

    def _complete(self, payload: Payload, lag: float, final: bool, end: float | None) -> Snapshot:
        """Record the closed interval ``payload``, judge the run, tell the sinks."""
        return self._commit(self._build(payload, lag, final, end), payload)

    def _build(self, payload: Payload, lag: float, final: bool, end: float | None) -> Built:
        """The snapshot of the closed interval ``payload`` (the record is not changed)."""
        now, cpu_now = self._clock() if end is None else end, self._cpu()
        dt = max(now - self._last_t, 1e-9)
        cpu = 100.0 * (cpu_now - self._last_cpu) / dt if dt >= 0.01 else math.nan
        self._last_t, self._last_cpu = now, cpu_now
        iv = merge_intervals(payload.stats.values())
        times = Times(self._wall() - self._behind, max(0.0, now - self.t0), dt, lag * 1e3, cpu,
                      final, dt >= self.interval / 2)
        snap = make_snapshot(self.record.overall, self.record.peak_rps, iv, payload.status,
                             times, self._last_dropped, payload.messages.values())
        add_connections(snap, payload.connections)
        self._last_dropped = payload.status.dropped
        return snap, iv, dt

    def _commit(self, built: Built, payload: Payload) -> Snapshot:
        """Add the built snapshot and its interval to the record, judge, tell the sinks."""
        snap, iv, dt = built
        record = self.record
        rows = len(record.custom_timeline)  # (this interval's custom rows begin here)
        record.add_connections(payload.connections)
        record.events.extend(payload.status.events)
        record.slowest.extend(payload.slowest)
        record.add(snap, iv, payload.stats, dt, custom=payload.custom,
                   messages=payload.messages, workers=payload.workers)
        self._observed(snap)
        news = self._judge(snap)
        self.flush()
        self._publish(self._update(snap, payload, news, rows))
        return snap

    def _observed(self, snap: Snapshot) -> None:
        """The target's series (see :mod:`~loadnb.runner.observing`): scrapes on the snapshot
        before this one, watched processes on this one."""
        self._server_rows = []
        if self.observe is None:
            return
        before, now = self.observe()
        snaps = self.record.snapshots
        if before and len(snaps) > 1:
            self._server_rows += self.record.add_server(snaps[-2].elapsed_time, before)
        if now:
            self._server_rows += self.record.add_server(snap.elapsed_time, now)

    def _judge(self, snap: Snapshot) -> list[tuple[AlertEvent, str]]:
        """Alert rules and thresholds on the run so far; their findings written to the record."""
        news = [] if self.alerts is None else self._apply(self.alerts(snap))
        judge, record = self.judge, self.record
        if judge is not None:
            record.thresholds[:] = judge(snap)
            if judge.aborted_by is not None and record.aborted_by is None:
                record.aborted_by = judge.aborted_by
                record.warn(f"the run was aborted: threshold {judge.aborted_by} failed")
                if self.on_abort is not None:
                    self.on_abort(judge.aborted_by)
        return news

    def _apply(self, news: list[AlertNews]) -> list[tuple[AlertEvent, str]]:
        """The engine's fires and clears as the record's alert events, listeners told."""
        out = []
        for rule, event, what in news:
            if what == "fired":
                mine = AlertEvent(event.rule, event.message, event.fired_at)
                self.record.alerts.append(mine)
                self._live[id(event)] = mine
            else:
                mine = self._live.pop(id(event))
                mine.cleared_at = event.cleared_at
            out.append((mine, what))
            self._tell([] if rule.on_event is None else [rule.on_event], mine, what)
        return out

    def _tell(self, extra: list[Listener], event: AlertEvent, what: str) -> None:
        for fn in [*extra, *self.listeners]:
            try:
                fn(event, what)
            except Exception as exc:  # noqa: BLE001 - a face must not break the run
                if fn in self.listeners:
                    self.listeners.remove(fn)
                self.record.warn(f"alert listener {fn!r} failed: {exc!r}")

    def _update(self, snap: Snapshot, payload: Payload, news: list[tuple[AlertEvent, str]],
                rows: int) -> Update:
        """The sinks' message: ``rows`` is where this interval's custom timeline rows begin."""
        r = self.record
        return Update(
            snap, RunState(r.state), payload.stats, payload.custom,
            tuple(r.custom_timeline[rows:]),
            tuple(e for e, what in news if what == "fired"),
            tuple(e for e, what in news if what == "cleared"),
            tuple(r.alerts), tuple(dict(t) for t in r.thresholds), tuple(r.warnings),
            tuple(r.events), dict(r.overall.iterations), r.aborted_by,
            messages=payload.messages, totals=r.totals, server_rows=tuple(self._server_rows),
            slowest=tuple(payload.slowest), workers=tuple(r.last_workers))

    def _publish(self, update: Update) -> None:
        for sink in list(self.sinks):
            try:
                sink(update)
            except Exception as exc:  # noqa: BLE001 - a face must not break the run
                if sink in self.sinks:
                    self.sinks.remove(sink)
                self.record.warn(f"subscriber {sink!r} failed and was removed: {exc!r}")




__all__ = ["Monitor", "Sink"]
