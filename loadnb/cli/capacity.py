"""``loadnb capacity URL --slo EXPR``: the highest rate a URL serves within an SLO (one line per
step on stderr, then the result; ``--json`` on stdout)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..engine.loop import run_to_end
from ..text.jsonsafe import json_safe
from .args import ExitCode, _error


def add_parser(sub: Any) -> None:
    """Add ``capacity`` to ``loadnb``'s subparsers."""
    c = sub.add_parser("capacity", help="find the highest rate a URL serves within an SLO")
    c.add_argument("url", help="http://127.0.0.1:8000/path (loopback or your own servers)")
    c.add_argument("--slo", action="append", required=True, metavar="EXPR",
                   help="a threshold expression the steps must meet, e.g. 'p99<200ms' "
                        "(repeatable)")
    c.add_argument("--max-rate", type=float, default=10_000.0, metavar="R",
                   help="highest rate tried (default 10000/s)")
    c.add_argument("--start-rate", type=float, default=10.0, metavar="R",
                   help="first rate (default 10/s)")
    c.add_argument("--factor", type=float, default=2.0, help="rate growth per step (default 2)")
    c.add_argument("--resolution", type=float, default=0.05,
                   help="stop when last good and first bad are this close (default 0.05)")
    c.add_argument("--step-duration", default="5s", metavar="TIME", help="default 5s")
    c.add_argument("--cooldown", default="1s", metavar="TIME", help="default 1s")
    c.add_argument("--max-steps", type=int, default=20, metavar="N", help="default 20")
    c.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    c.add_argument("--no-history", action="store_true", help="do not keep the steps' runs")
    c.add_argument("-q", "--quiet", action="store_true", help="no step lines on stderr")


def run(args: argparse.Namespace) -> int:
    """``loadnb capacity``: one line per step on stderr, then the result; exit 0 (2: bad input)."""
    from ..studies.capacity import acapacity

    def line(row: dict[str, Any]) -> None:
        if not args.quiet:
            verdict = "ok" if row["passed"] else ("queue" if row["latency_grew"] else "breaks SLO")
            sys.stderr.write(f"{row['offered_rps']:>10,.1f}/s offered  "
                             f"{row['achieved_rps']:>10,.1f}/s achieved  "
                             f"p99 {row['p99_ms']} ms  {verdict}\n")

    try:
        found = run_to_end(acapacity(
            args.url, args.slo, start_rate=args.start_rate, factor=args.factor,
            resolution=args.resolution, step_duration=args.step_duration,
            cooldown=args.cooldown, max_steps=args.max_steps, max_rate=args.max_rate,
            history="off" if args.no_history else None, on_step=line))
    except ValueError as exc:
        _error(str(exc))
        return ExitCode.USAGE
    if not args.quiet:
        sys.stderr.write(f"loadnb: {found.caption()}\n")
    if args.json:
        sys.stdout.write(json.dumps(json_safe(found.as_dict())) + "\n")
    return ExitCode.OK


__all__ = ["add_parser", "run"]
