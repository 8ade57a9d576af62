"""``loadnb report RUN_OR_FILE ... -o FILE.html``: one standalone HTML report of history runs or
exports (several overlay)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .args import ExitCode, _error, _output_file


def add_parser(sub: Any) -> None:
    """Add ``report`` to ``loadnb``'s subparsers."""
    r = sub.add_parser("report", help="write a standalone HTML report of runs or exports",
                       description="One HTML file that opens offline: summary, per-name table, "
                                   "thresholds, alerts and charts; several runs overlay.")
    r.add_argument("runs", nargs="+", metavar="RUN_OR_FILE",
                   help="a history run (id, unique prefix or 'last') or an export "
                        "(.json/.parquet); several are overlaid")
    r.add_argument("-o", "--out", required=True, metavar="FILE.html", help="the report file")
    r.add_argument("--title", help="the report's title (default: the run ids)")
    r.add_argument("--history", metavar="PATH", help="the history database (default: "
                   "$LOADNB_HISTORY, else the per-user data directory)")


def run(args: argparse.Namespace) -> int:
    """``loadnb report``: write the HTML report; exit 0, 2 for an unknown run, a bad file or an
    ``-o`` that cannot be written (checked first)."""
    from ..history.reader import load
    from ..results.report import write_report

    try:
        _output_file(args.out, "--out")
        runs = [load(ref, args.history) for ref in args.runs]
    except (ValueError, OSError) as exc:  # HistoryError is a ValueError
        _error(str(exc))
        return ExitCode.USAGE
    try:
        path = write_report(runs, args.out, title=args.title)
    except ImportError as exc:  # Bokeh is in the notebook extra
        _error(f"the report needs Bokeh ({exc}): pip install 'loadnb[notebook]'")
        return ExitCode.ERROR
    except OSError as exc:
        _error(f"cannot write {args.out!r}: {exc.strerror or exc}")
        return ExitCode.ERROR
    sys.stderr.write(f"loadnb: wrote {path} ({path.stat().st_size / 1e6:.1f} MB)\n")
    return ExitCode.OK


__all__ = ["add_parser", "run"]
