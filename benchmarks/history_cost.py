"""Figure 1a's fast path with the run history on vs off: alternating pairs against the private
nginx, with wrk in the same run as the reference (issue 13's "throughput with history on vs off").

    .venv/bin/python benchmarks/history_cost.py [--pairs 6] [--seconds 3]

Prints each run, the median ratio on/off with its spread, both against wrk, and the database's
size. The machine is shared and noisy: read the ratio's spread, not one run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Nginx, measured, median, run_child, run_wrk, spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    path = str(Path(tempfile.mkdtemp(prefix="loadnb-history-cost-")) / "history.sqlite")
    rates: dict[str, list[float]] = {"on": [], "off": []}
    wrk: list[float] = []
    with Nginx() as nginx:
        for rep in range(args.pairs):
            for name in (("on", "off") if rep % 2 == 0 else ("off", "on")):
                m = measured(run_child("loadnb", {
                    "url": nginx.url, "users": 64, "duration": args.seconds, "transport": "fast",
                    "interval": 0.5, "history": path if name == "on" else "off"},
                    60 + 3 * args.seconds))
                rates[name].append(m.rate)
                print(f"  pair {rep + 1} history {name:<3} {m.rate:>12,.0f} req/s", flush=True)
            wrk.append(run_wrk(nginx.url, 2).rate)
    ratios = [a / b for a, b in zip(rates["on"], rates["off"], strict=True)]
    on, off, ref = median(rates["on"]), median(rates["off"]), median(wrk)
    print(f"history on/off {median(ratios):.3f}{spread(ratios)}; on/wrk {on / ref:.2f}, "
          f"off/wrk {off / ref:.2f}; database {Path(path).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
