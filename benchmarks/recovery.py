"""How fast the open model catches up after its loop was held, against the raw open-loop client.

    python benchmarks/recovery.py [--reps 6] [--stall-ms 5] [--fraction 0.5] [--nice N]
                                  [--cores G,S]

A shared machine holds a generator's loop now and then (a neighbour, the host); an open model
then owes every arrival due meanwhile and catches up at what it can send above the rate. Near its
ceiling that margin decides whether a slow stretch ends in a few milliseconds or fills
``max_in_flight`` and drops arrivals: the natural episodes behind figure 6 are too irregular to
compare two clients by, so here the stall is made on purpose, the same for both.

At ``fraction`` of the raw closed client's throughput (measured first, against the same nginx),
each run holds its loop (``time.sleep``) for ``stall-ms`` five times, at :data:`STALLS` seconds
after its clock started; loadnb's open model (fast transport) and the raw open-loop client
(``benchmarks/raw_open.py``) run alternately, each pinned to the generator's core. Per stall: the
catch-up, the time from the stall's end until an arrival leaves on time again (send lag below
:data:`ON_TIME_MS`), and the rate the client caught up at, ``rate * (stall + catch-up) /
catch-up`` (the arrivals due during both, sent during the catch-up). Medians over every stall of
every run; the ratio loadnb / raw is the figure (1.0: loadnb's features cost nothing while it
catches up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from array import array
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import the package by its name
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Nginx, fmt_rate, measured, request_bytes, run_child  # noqa: E402
from benchmarks.pinning import (  # noqa: E402
    add_pinning_options,
    apply_pinning_options,
    pinning_note,
)

__all__ = ["ON_TIME_MS", "STALLS", "catch_ups", "main"]

#: When each stall begins (seconds after the run's clock started): off the monitor's ticks.
STALLS = (0.37, 0.87, 1.37, 1.87, 2.37)
#: An arrival whose send lag is below this (ms) left on time: the backlog is gone.
ON_TIME_MS = 0.3
#: Connections of both clients (figure 6's).
CONNECTIONS = 64


def catch_ups(lags: array[float], rate: float, began: list[float], stall: float) -> list[float]:
    """Per stall (``began``: when each started, seconds after the clock's start): the seconds
    from its end until the first arrival due after it left on time; NaN if none did before the
    next stall. Arrival k is due at k / ``rate`` and ``lags`` are in the order sent (first come,
    first served: the order due)."""
    out = []
    for i, start in enumerate(began):
        end = start + stall
        stop = math.ceil(began[i + 1] * rate) if i + 1 < len(began) else len(lags)
        after = range(math.ceil(end * rate), min(len(lags), stop))
        out.append(next((k / rate - end for k in after if lags[k] * 1e3 < ON_TIME_MS), math.nan))
    return out


def stalls(loop: asyncio.AbstractEventLoop, stall: float, began: list[float], t0: float) -> None:
    """Hold ``loop`` for ``stall`` seconds at each of :data:`STALLS` after ``t0`` (its clock's
    start, ``time.perf_counter``); ``began`` gets when each did (seconds after ``t0``)."""
    def hold() -> None:
        began.append(time.perf_counter() - t0)
        time.sleep(stall)  # (the point: the loop is held)

    for at in STALLS:
        loop.call_later(max(0.0, at - (time.perf_counter() - t0)), hold)


async def loadnb_run(p: dict[str, Any]) -> dict[str, Any]:
    """loadnb's open model, held at :data:`STALLS` (armed as its pacer starts, at ``t0``)."""
    from benchmarks.child import pacing, record_send_lags
    from loadnb.engine.generator import Engine

    lags, _ = record_send_lags()
    began: list[float] = []
    start = Engine._start_pacer

    def armed(engine: Any) -> None:
        stalls(asyncio.get_running_loop(), p["stall"], began, engine.t0)
        start(engine)

    Engine._start_pacer = armed  # type: ignore[method-assign,assignment]
    out = await pacing(p)
    return {**out, "catch_up": measured_catch_ups(out, lags, p, began)}


async def raw_run(p: dict[str, Any]) -> dict[str, Any]:
    """The raw open-loop client, held at :data:`STALLS` (armed as its clock starts)."""
    from benchmarks.raw_open import OpenClient, raw_open

    began: list[float] = []
    kept: list[OpenClient] = []

    def armed(client: OpenClient) -> None:
        kept.append(client)
        stalls(asyncio.get_running_loop(), p["stall"], began, client.t0)

    out = await raw_open(p, on_start=armed)
    return {**out, "catch_up": measured_catch_ups(out, kept[0].lags, p, began)}


def measured_catch_ups(out: dict[str, Any], lags: array[float], p: dict[str, Any],
                       began: list[float]) -> list[float]:
    """:func:`catch_ups`, or NaN for each stall if an arrival was dropped (arrival k is then no
    longer the k-th lag)."""
    if out["dropped"]:
        return [math.nan] * len(began)
    return catch_ups(lags, p["rate"], began, p["stall"])


KINDS = {"loadnb": loadnb_run, "raw": raw_run}


def caught_up_at(rate: float, stall: float, t: float) -> float:
    """The rate a client caught up at, from its median catch-up ``t`` (seconds; NaN: none)."""
    if math.isnan(t):
        return math.nan
    return rate * (stall + t) / t if t > 0 else math.inf


def compare(reps: int, stall: float, fraction: float, seconds: float = 3.0) -> float:
    """The runs (printed), then the ratio of the rates loadnb and the raw client caught up at."""
    found: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with Nginx() as nginx:
        payload = request_bytes(nginx.url)
        raw = measured(run_child("raw_uvloop", {
            "url": nginx.url, "users": CONNECTIONS, "duration": seconds, "payload": payload},
            seconds + 60))
        rate = fraction * raw.rate
        print(f"raw closed {fmt_rate(raw.rate)}; open model at {fmt_rate(rate)}, held "
              f"{stall * 1e3:g} ms at {', '.join(f'{s:g}' for s in STALLS)} s; {pinning_note()}",
              flush=True)
        params = {"url": nginx.url, "rate": rate, "duration": seconds, "stall": stall,
                  "connections": CONNECTIONS, "payload": payload}
        for rep in range(reps):
            for kind in KINDS:
                r = run_child(kind, params, seconds + 60, module="benchmarks.recovery")
                found[kind] += r["catch_up"]
                print(f"  run {rep + 1} {kind:6}: dropped {r['dropped']:,}, send lag p99 "
                      f"{r['lag_ms']['p99']:.2f} ms, max {r['lag_ms']['max']:.2f} ms; caught "
                      f"up (ms after each stall) "
                      f"{' '.join(f'{s * 1e3:.1f}' for s in r['catch_up'])}", flush=True)
    at = {}
    for kind, v in found.items():
        done = [s for s in v if not math.isnan(s)]
        median = statistics.median(done) if done else math.nan
        at[kind] = caught_up_at(rate, stall, median)
        print(f"{kind:6}: caught up in {median * 1e3:.1f} ms (median of {len(done)}/{len(v)} "
              f"stalls) -> at {fmt_rate(at[kind])}")
    ratio = at["loadnb"] / at["raw"]
    print(f"caught up at, loadnb / raw: {ratio:.3f}")
    return ratio


def main(argv: list[str]) -> None:
    if argv and argv[0] in KINDS:  # a child: python -m benchmarks.recovery <kind> <params>
        from benchmarks.child import run_on

        print(json.dumps(run_on("uvloop", KINDS[argv[0]](json.loads(argv[1])))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--stall-ms", type=float, default=5.0)
    parser.add_argument("--fraction", type=float, default=0.5)
    add_pinning_options(parser)
    args = parser.parse_args(argv)
    apply_pinning_options(parser, args)
    compare(args.reps, args.stall_ms / 1e3, args.fraction)


if __name__ == "__main__":
    main(sys.argv[1:])
