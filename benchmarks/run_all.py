"""loadnb benchmarks: throughput vs wrk and a raw client, monitoring cost, pacing, memory, stop
latency, the open model vs the closed model.

    .venv/bin/python benchmarks/run_all.py            # about 6 minutes (make bench)
    .venv/bin/python benchmarks/run_all.py --quick    # about 2 minutes
    .venv/bin/python benchmarks/run_all.py --smoke    # about 20 s: 1 repetition, no memory figure
    .venv/bin/python benchmarks/run_all.py --long     # memory over a real 10 minutes
    .venv/bin/python benchmarks/run_all.py --nice -10 # as root on a busy shared machine
    .venv/bin/python benchmarks/run_all.py --only 6 --cores 2,3  # on cores kept free (isolcpus)

Each benchmark starts its own nginx on 127.0.0.1 (one worker, pinned to core 1) and runs every
generator pinned to core 0 (``taskset -c``; other cores with ``--cores G,S``), one process per
measurement. Every figure is a ratio
or a bound against a reference measured in the same run; repeated measurements are interleaved
(so slow drifts of a shared machine hit every variant alike) and the median is printed. Targets
are shown with pass/fail as information: the exit status is 0 unless a benchmark crashed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script (make bench): import the package by its name
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures_base import FIGURES, Mode, Row  # noqa: E402
from benchmarks.figures_memory import memory, stop_latency  # noqa: E402
from benchmarks.figures_open import open_capacity, pacing  # noqa: E402
from benchmarks.figures_throughput import monitoring, throughput  # noqa: E402
from benchmarks.pinning import (  # noqa: E402
    add_pinning_options,
    apply_pinning_options,
    missing_tools,
    pinning_note,
)

FRACTIONS = (0.6, 0.7, 0.8, 0.9, 1.0)
MODES = {
    "full": Mode("full", 3, 5.0, 10.0, 3, 60.0, 10, 1.0, 10, 2.0, 3, 5.0, FRACTIONS),
    "quick": Mode("quick", 3, 1.0, 2.0, 3, 25.0, 5, 0.5, 6, 1.5, 1, 2.0, FRACTIONS),
    "smoke": Mode("smoke", 1, 1.0, 1.0, 1, None, 3, 0.3, 1, 1.0, 1, 1.0, (0.8,)),
}


BENCHMARKS: tuple[tuple[tuple[str, ...], Callable[[Mode], list[Row]]], ...] = (
    (FIGURES[0:6], throughput),
    (FIGURES[6:7], monitoring),
    (FIGURES[7:10], pacing),
    (FIGURES[10:11], memory),
    (FIGURES[11:12], stop_latency),
    (FIGURES[12:15], open_capacity),
)


def print_table(rows: list[Row]) -> None:
    def verdict(ok: bool | None) -> str:
        return "-" if ok is None else ("pass" if ok else "FAIL")

    w1 = max(len(r.figure) for r in rows)
    w2 = max(len(r.measured) for r in rows)
    w3 = max(len(r.target) for r in rows)
    print(f"\n{'figure':<{w1}}  {'measured':<{w2}}  {'target':<{w3}}  pass/fail")
    print(f"{'-' * w1}  {'-' * w2}  {'-' * w3}  ---------")
    for r in rows:
        print(f"{r.figure:<{w1}}  {r.measured:<{w2}}  {r.target:<{w3}}  {verdict(r.ok)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="about 1 minute")
    group.add_argument("--smoke", action="store_true",
                       help="about 20 s: 1 repetition of 1 s, no memory figure (for the tests)")
    parser.add_argument("--long", action="store_true",
                        help="run the memory figure for a real 10 minutes")
    parser.add_argument("--only", default="", help="comma-separated figure numbers, e.g. 1,3")
    add_pinning_options(parser)
    args = parser.parse_args(argv)
    apply_pinning_options(parser, args)
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.long:
        mode = Mode(**{**mode.__dict__, "memory_seconds": 600.0})
    missing = missing_tools()
    if missing:
        print(f"benchmarks need {', '.join(missing)} (make sysdeps)", file=sys.stderr)
        return 2
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so every nginx is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    print(f"loadnb benchmarks, mode {mode.name}; {pinning_note()}; Python "
          f"{sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")
    t0 = time.monotonic()
    rows: list[Row] = []
    crashed = False
    for figures, bench in BENCHMARKS:
        if only and figures[0].split()[0][0] not in only:
            continue
        try:
            rows += bench(mode)
        except Exception:  # noqa: BLE001 - report, go on with the others, exit 1 at the end
            crashed = True
            traceback.print_exc()
            rows += [Row(f, "CRASHED (see above)", "", None) for f in figures]
    print_table(rows)
    print(f"\n({time.monotonic() - t0:.0f} s; verdicts are information, noise is +-15-35 % "
          "run to run; compare ratios only)")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
