"""The measured side of the benchmarks: one load generator per process, started by run_all.py.

    python -m benchmarks.child <kind> '<json params>'

prints one JSON object on its last line. ``requests`` / ``seconds`` / ``cpu`` are the requests
answered, the wall time of the load window and this process's CPU time over the run (imports and
interpreter start excluded; the parent adds ``cpu_total`` from ``wait4``). Kinds:

- ``loadnb``: ``loadnb`` closed model (``users``) or open model (``rate``), bounded by ``duration``
  or ``requests``, with ``transport`` and ``interval``, on uvloop or the standard loop
  (``loop``), optionally with a widget-like subscriber; ``send_lag_p99_ms``: the worst interval's.
- ``bare_aiohttp``: ``users`` tasks doing ``session.get`` + ``read`` in a loop, with the session
  and connector loadnb's aiohttp transport makes (no loadnb engine, recorder or monitor).
- ``raw_uvloop``: the feature-less reference: ``users`` connections, each a plain
  ``asyncio.Protocol`` on uvloop that writes the same request bytes loadnb sends (built by the
  same ``serialise``), parses the response with the same parser (llhttp via httptools) and writes
  the next request when a response is complete; it counts responses and nothing else (no clock,
  no timeout, no pool, no recording). Bounded by ``duration`` or by ``requests``.
- ``raw_open``: the feature-less open-loop reference (``benchmarks/raw_open.py``).
- ``pacing``: the open model at ``rate``: every arrival's send lag (when its request was written
  minus when it was due, as the engine measures it for ``send_lag_p99_ms``).
- ``memory``: a full-speed run sampling RSS at every snapshot.
- ``stop``: full-speed runs stopped after ``warm`` seconds; times to the final snapshot and to
  ``wait()`` returning.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import sys
import time
from array import array
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httptools

from benchmarks.common import waited_seconds

if TYPE_CHECKING:
    from loadnb.engine.generator import Engine
    from loadnb.metrics.snapshot import Snapshot

#: Points the dashboard keeps per series (the widget's rollover).
ROLLOVER = 2000


def cpu_seconds() -> float:
    """This process's user + system CPU time (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    """Resident set size now (``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def loop_name() -> str:
    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__}.{type(loop).__name__}"


def widget_like_subscriber() -> Callable[[Snapshot], None]:
    """What the notebook face does per snapshot, without Bokeh: one dict of plain one-item lists
    per snapshot (what ``ColumnDataSource.stream`` receives), appended to rolled-over columns, and
    the console/label line formatted."""
    from loadnb.metrics.snapshot import COLUMNS

    columns: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    labels: list[str] = []

    def on_snapshot(snap: Snapshot) -> None:
        batch = {col: [getattr(snap, col)] for col in COLUMNS}
        for col, values in batch.items():
            column = columns[col]
            column.extend(values)
            if len(column) > ROLLOVER:
                del column[:-ROLLOVER]
        success = "—" if math.isnan(snap.success_rate) else f"{snap.success_rate:.1f}%"
        labels.append(f"🔄 Running... {snap.progress_percent:.1f}% | Active: "
                      f"{snap.active_users} | RPS: {snap.current_rps:.1f} | Success: {success} | "
                      f"Completed: {snap.completed_requests:,}")
        del labels[:-10]

    return on_snapshot


def run_on(loop: str, coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run ``coro`` on uvloop (as ``loadnb.run`` does) or on the standard asyncio loop."""
    if loop == "asyncio":
        return asyncio.run(coro)
    if loop != "uvloop":
        raise ValueError(f"loop must be uvloop or asyncio, got {loop!r}")
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # (loadnb.run's way)
        return runner.run(coro)


def time_ticks() -> list[float]:
    """Time every ``Monitor.tick`` from now on (swap, snapshot, subscribers): the direct cost of
    monitoring. Returns the list the durations (seconds) are appended to; stays empty if the
    monitor no longer has a ``tick`` method (then the benchmark reports n/a)."""
    from loadnb.runner import monitor

    durations: list[float] = []
    original = getattr(monitor.Monitor, "tick", None)
    if original is None:
        return durations

    def tick(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            durations.append(time.perf_counter() - start)

    monitor.Monitor.tick = tick  # type: ignore[method-assign]
    return durations


# -- kinds ------------------------------------------------------------------------------------
#: What "judge" adds to a run: the six default rules plus four expressions (ten alert rules),
#: and five thresholds (figure 2: the monitoring cost of a fully judged run).
JUDGE_ALERTS = ("p99<500ms", "p95[GET /]<300ms", "errors<5%", "rps>1")
JUDGE_THRESHOLDS = ("p95<300ms", "p99<1s", "errors<1%", "rps>100", "max<5s")


async def load(p: dict[str, Any]) -> dict[str, Any]:
    """loadnb's closed model (or the open model at ``rate``), bounded by ``duration`` or
    ``requests``."""
    from loadnb import Run, make_spec

    judge: dict[str, Any] = {}
    if p.get("judge"):
        from loadnb.rules.alerts import default_rules

        judge = {"alerts": [*default_rules(), *JUDGE_ALERTS], "thresholds": JUDGE_THRESHOLDS}
    model = {"rate": p["rate"]} if p.get("rate") else {"users": p["users"]}
    _, p99s = record_send_lags()
    bound = {"requests": p["requests"], "duration": None} if p.get("requests") else {
        "duration": p["duration"]}
    spec = make_spec(p["url"], **model, **bound, transport=p.get("transport", "fast"),
                     interval=p.get("interval", 0.5), history=p.get("history", "off"),
                     connections=p.get("connections"), **judge)
    run = Run(spec)
    if p.get("subscriber") == "widget":
        run.subscribe(widget_like_subscriber())
    ticks = time_ticks() if p.get("time_ticks") else []
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    result = await run.run()
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    s = result.summary
    return {"requests": s["completed_requests"] + s["failed_requests"],
            "failed": s["failed_requests"], "seconds": s["duration_s"], "cpu": cpu,
            "wall": wall, "snapshots": len(result.snapshots), "transport": s["transport"],
            "loop": loop_name(), "errors": s["errors"], "dropped": s["dropped_arrivals"],
            "send_lag_p99_ms": max(p99s, default=math.nan),
            "tick_seconds": ticks[:-1], "final_tick_seconds": ticks[-1:]}


async def bare_aiohttp(p: dict[str, Any]) -> dict[str, Any]:
    from loadnb import make_spec
    from loadnb.transport.aio import make_session

    url, duration = p["url"], float(p["duration"])
    options = make_spec(url, users=p["users"], transport="aiohttp").transport_options()
    session = make_session(options)
    count = failed = 0
    end = 0.0

    async def worker() -> None:
        nonlocal count, failed
        while time.perf_counter() < end:
            async with session.get(url) as resp:
                await resp.read()
                if resp.status >= 400:
                    failed += 1
            count += 1

    try:
        cpu0, start = cpu_seconds(), time.perf_counter()
        end = start + duration
        await asyncio.gather(*(worker() for _ in range(p["users"])))
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    finally:
        await session.close()
    return {"requests": count, "failed": failed, "seconds": wall, "cpu": cpu,
            "loop": loop_name()}


class RawConn(asyncio.Protocol):
    """One connection of the raw client: write, parse, count, write again."""

    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.client.payload)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        client = self.client
        client.count += 1
        if client.count < client.stop_at:
            self.transport.write(client.payload)  # type: ignore[union-attr]
        else:
            self.transport.close()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.lost(self)


class RawClient:
    """The connections of the raw client and their count of responses; a connection closes at
    its first response once ``count`` reaches ``stop_at`` (``requests``, or the end of the
    duration), so the last requests overshoot the bound by at most one per connection."""

    def __init__(self, payload: bytes, requests: int | None) -> None:
        self.payload = payload
        self.stop_at: float = math.inf if requests is None else requests
        self.count = 0
        self.conns: set[RawConn] = set()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def lost(self, conn: RawConn) -> None:
        self.conns.discard(conn)
        if not self.conns and not self.done.done():
            self.done.set_result(None)


async def raw_uvloop(p: dict[str, Any]) -> dict[str, Any]:
    """The raw client; ``payload``: the request's bytes (latin-1), as loadnb sends them (its
    process imports nothing of loadnb)."""
    url = p["url"]
    parts = urlsplit(url)
    client = RawClient(p["payload"].encode("latin-1"), p.get("requests"))
    loop = asyncio.get_running_loop()
    cpu0, start = cpu_seconds(), time.perf_counter()
    for _ in range(int(p["users"])):
        _, conn = await loop.create_connection(lambda: RawConn(client), parts.hostname,
                                               parts.port)
        client.conns.add(conn)
    if not p.get("requests"):
        loop.call_later(float(p["duration"]), setattr, client, "stop_at", 0)
    await client.done
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    return {"requests": client.count, "failed": 0, "seconds": wall, "cpu": cpu,
            "wall": wall, "loop": loop_name()}


def percentiles(values: list[float], qs: tuple[float, ...]) -> list[float]:
    import numpy as np

    if not values:
        return [math.nan] * len(qs)
    return [float(v) for v in np.percentile(np.asarray(values), qs)]


def record_send_lags() -> tuple[array[float], list[float]]:
    """From now on, keep every send lag (seconds; when each arrival's request was written minus
    when it was due) and every interval's p99 (ms) the engine reports: where they go. The lags
    are copied as C doubles, as the raw open-loop client keeps its own: the copy runs in the
    monitor's tick, on the loop the pacer shares, and a Python float per send would hold it
    about 1.5 ms a tick at 100,000/s."""
    from loadnb.engine.generator import Engine

    lags: array[float] = array("d")
    p99s: list[float] = []
    original = Engine.take_send_lag

    def take(self: Engine) -> float:
        lags.extend(self.send_lags)
        value = original(self)
        if not math.isnan(value):
            p99s.append(value)
        return value

    Engine.take_send_lag = take  # type: ignore[method-assign]
    return lags, p99s


async def pacing(p: dict[str, Any]) -> dict[str, Any]:
    """The open model at ``rate`` for ``duration``: what was sent, and how late."""
    from loadnb import Run, make_spec

    rate, duration = float(p["rate"]), float(p["duration"])
    spec = make_spec(p["url"], rate=rate, duration=duration, transport=p.get("transport", "fast"),
                     interval=p.get("interval", 0.5), history="off",
                     connections=p.get("connections"))
    lags, p99s = record_send_lags()
    run = Run(spec)
    cpu0, wall0, waited0 = cpu_seconds(), time.perf_counter(), waited_seconds()
    result = await run.run()
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    s = result.summary
    steady = [snap.current_rps for snap in result.snapshots[1:-1] if snap.phase == "running"]
    lag_probe = [snap.loop_lag_ms for snap in result.snapshots if not math.isnan(snap.loop_lag_ms)]
    return {
        "requests": s["completed_requests"] + s["failed_requests"], "failed": s["failed_requests"],
        "seconds": s["duration_s"], "cpu": cpu, "wall": wall, "sent": len(lags),
        "waited": waited_seconds() - waited0,
        # arrivals k = 0, 1, ... due at k / rate, before the end
        "asked": math.ceil(rate * duration - 1e-6), "dropped": s["dropped_arrivals"],
        "cancelled": s["cancelled_requests"], "errors": s["errors"],
        "lag_ms": dict(zip(("p50", "p99", "p99.9", "max"),
                           percentiles([v * 1e3 for v in lags], (50, 99, 99.9, 100)),
                           strict=True)),
        "interval_lag_p99_ms": max(p99s, default=math.nan),
        "latency_ms": s["latency_ms"], "service_ms": s["service_ms"],
        "steady_rps_min": min(steady) if steady else math.nan,
        "steady_rps_median": percentiles(steady, (50,))[0],
        "loop_lag_probe_p99_ms": percentiles(lag_probe, (99,))[0],
        "loop_lag_probe_max_ms": max(lag_probe) if lag_probe else math.nan,
        "loop": loop_name(),
    }


async def memory(p: dict[str, Any]) -> dict[str, Any]:
    from loadnb import Run, make_spec

    spec = make_spec(p["url"], users=p["users"], duration=p["duration"], transport="fast")
    run = Run(spec)
    samples: list[tuple[float, int]] = []
    run.subscribe(lambda snap: samples.append((snap.elapsed_time, rss_bytes())))
    run.subscribe(widget_like_subscriber())
    rss0 = rss_bytes()
    cpu0 = cpu_seconds()
    result = await run.run()
    s = result.summary
    return {"requests": s["completed_requests"] + s["failed_requests"],
            "seconds": s["duration_s"], "cpu": cpu_seconds() - cpu0, "rss_before": rss0,
            "samples": samples, "snapshots": len(result.snapshots),
            "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


async def stop(p: dict[str, Any]) -> dict[str, Any]:
    from loadnb import Run, make_spec

    clock = time.perf_counter
    to_final: list[float] = []
    to_wait: list[float] = []
    in_flight: list[int] = []
    answered = 0
    for _ in range(int(p["repeats"])):
        run = Run(make_spec(p["url"], users=p["users"], duration=60, transport="fast"))
        final: list[float] = []
        run.subscribe(lambda snap, final=final: final.append(clock())
                      if snap.phase == "done" else None)
        run.start()
        await asyncio.sleep(float(p["warm"]))
        # requests in flight now (the benchmark peeks)
        engine = getattr(getattr(run, "_backend", None), "engine", None)
        in_flight.append(getattr(engine, "active_users", -1))
        t0 = clock()
        run.stop()
        result = await run.wait()
        t1 = clock()
        to_final.append((final[0] - t0) * 1e3 if final else math.nan)
        to_wait.append((t1 - t0) * 1e3)
        answered += result.overall.completed + result.overall.failed
    return {"to_final_ms": to_final, "to_wait_ms": to_wait, "answered": answered,
            "active_before_stop": in_flight, "loop": loop_name()}


async def raw_open(p: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.raw_open import raw_open as run

    return await run(p)


KINDS: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]] = {
    "loadnb": load, "bare_aiohttp": bare_aiohttp, "raw_uvloop": raw_uvloop, "pacing": pacing,
    "raw_open": raw_open, "memory": memory, "stop": stop,
}


def main(argv: list[str]) -> None:
    kind, params = argv[0], json.loads(argv[1])
    out = run_on(params.get("loop", "uvloop"), KINDS[kind](params))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
