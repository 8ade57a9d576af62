"""What observing costs, piece by piece (issue 23): per request (trace headers, the slowest
keeper), per tick (the feed, the exposition, the OTLP message, a scrape's parse, a process
sample) and per scrape served, on this process's loop, without a load.

    .venv/bin/python benchmarks/observe_costs.py [--names 10] [--lines 2000]

Prints the median of 7 repetitions of each, in µs. The machine is shared: read orders of
magnitude, not digits. The cost with a real load (figure 2, monitoring cost) comes once the
pieces are wired into the run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from loadnb.metrics.stats import IntervalStats
from loadnb.observe.exporter import render
from loadnb.observe.exposition import make_filter, parse
from loadnb.observe.feed import BOUNDS, LoadMetrics
from loadnb.observe.otlp import encode
from loadnb.observe.process import ProcessWatcher
from loadnb.observe.trace import Slowest, Tracer


def us(fn: Callable[[], object], number: int) -> float:
    """Median µs per call of ``fn`` over 7 repetitions of ``number`` calls."""
    return statistics.median(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=10, help="request names in the feed")
    parser.add_argument("--lines", type=int, default=2000, help="lines of the scraped text")
    args = parser.parse_args()
    rng = random.Random(1)
    totals = {}
    for i in range(args.names):
        stats = IntervalStats(f"GET /path/{i}", completed=10_000, failed=10)
        stats.latency.add_seconds(np.array([rng.lognormvariate(-4, 1) for _ in range(10_010)]))
        totals[stats.name] = stats
    metrics = LoadMetrics("bench")

    def tick() -> None:  # every name changed since the last tick: nothing cached
        for s in totals.values():
            s.completed += 1
            s.latency.total += 1
        metrics.update(totals, 100, 10, 0)

    tracer, ctx, keeper = Tracer("bench"), Tracer("bench").new_trace(), Slowest(5)
    text = "".join(f'node_x_total{{cpu="{i}",mode="idle"}} {i * 1.5}\n'
                   for i in range(args.lines))
    keep = make_filter()
    watcher = ProcessWatcher(os.getpid())
    watcher._cpu()  # what start() does
    rows = [
        ("per request: trace header lines (header_bytes)", us(lambda: tracer.header_bytes(ctx),
                                                              200_000)),
        ("per iteration: a new trace (new_trace)", us(tracer.new_trace, 200_000)),
        ("per request: slowest keeper, guard + offer", us(
            lambda: keeper.offer(1.0, "a", "t", 0.0) if rng.random() > keeper.floor else None,
            200_000)),
        (f"per tick: LoadMetrics.update, {args.names} names changed", us(tick, 200)),
        (f"per state: render the exposition, {args.names} names",
         us(lambda: render(metrics.current, BOUNDS), 200)),
        (f"per state: OTLP message, {args.names} names, serialized",
         us(lambda: encode(metrics.current, BOUNDS).SerializeToString(), 200)),
        (f"per scrape: parse {args.lines} lines (default filter)",
         us(lambda: parse(text, keep=keep), 20)),
        ("per tick: ProcessWatcher.take (this process)", us(watcher.take, 200)),
    ]
    for label, value in rows:
        print(f"{label:<58} {value:>10,.2f} µs")


if __name__ == "__main__":
    main()
