"""When the open model's arrivals are late: the send lag over one run, and where in it.

    python benchmarks/send_lag.py [--rate 40000] [--connections 64] [--seconds 2] [--reps 2]

Starts the benchmarks' nginx (pinned to its core), then runs the open model on the fast path in
a child process pinned to the generator's core (``python -m benchmarks.send_lag child ...``),
keeping every arrival's send lag (when its request was written minus when it was due). Prints
per run: arrivals, dropped, the lag's p50/p99/max, how many arrivals were more than 2 ms late,
and those late arrivals counted by twentieths of the run — a start-up burst shows in the first
twentieths, the monitor's ticks (every 0.5 s) as bursts at their places. Load goes to 127.0.0.1
only, bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import the package by its name
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LATE_MS = 2.0
SLICES = 20


async def _child(p: dict[str, Any]) -> dict[str, Any]:
    """The measured run (in the pinned child): every send lag kept, in the order sent."""
    import numpy as np

    from benchmarks.child import record_send_lags
    from loadnb import Run, make_spec

    lags, _ = record_send_lags()
    spec = make_spec(p["url"], rate=p["rate"], duration=p["seconds"], transport="fast",
                     interval=0.5, history="off", connections=p["connections"])
    s = (await Run(spec).run()).summary
    ms = np.array(lags) * 1e3
    late = np.flatnonzero(ms > LATE_MS)
    by_slice = np.histogram(late, bins=SLICES, range=(0, max(1, ms.size)))[0]
    return {"sent": int(ms.size), "dropped": s["dropped_arrivals"],
            "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max()), "late": int(late.size), "by_slice": by_slice.tolist()}


def main(argv: list[str]) -> None:
    if argv[:1] == ["child"]:
        from benchmarks.child import run_on

        print(json.dumps(run_on("uvloop", _child(json.loads(argv[1])))))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=40000.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    from benchmarks.common import Nginx, run_child

    with Nginx() as nginx:
        for rep in range(args.reps):
            r = run_child("child", {"url": nginx.url, "rate": args.rate,
                                    "connections": args.connections, "seconds": args.seconds},
                          timeout=args.seconds * 10 + 30, module="benchmarks.send_lag")
            print(f"run {rep + 1}: {args.rate:,.0f}/s on {args.connections} connections: "
                  f"{r['sent']:,} sent, {r['dropped']:,} dropped; send lag p50 {r['p50']:.2f} "
                  f"p99 {r['p99']:.2f} max {r['max']:.1f} ms; {r['late']:,} later than "
                  f"{LATE_MS:g} ms, by twentieth of the run: {r['by_slice']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
