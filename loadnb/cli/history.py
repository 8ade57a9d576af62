"""The history commands of ``loadnb``: ``history``, ``show RUN``, ``compare A B``.

``RUN`` is a run id, a unique prefix of one, or ``last``. Each takes ``--history PATH`` (else
``LOADNB_HISTORY``, else the per-user default). Output goes to stdout (``--json``: one JSON
document); bad input (an unknown or ambiguous id, a database from a newer loadnb) is one line
``loadnb: error: ...`` on stderr and exit status 2.

Example::

    loadnb history --limit 5
    loadnb show last --json
    loadnb compare 3f2a last
    loadnb history --delete 3f2a
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from typing import Any

from ..console import format_summary
from ..history.store import HistoryError
from ..record.summary import strict_summary
from ..text.jsonsafe import json_safe
from ..text.numbers import fixed
from .args import ExitCode, _error

COMMANDS = ("history", "show", "compare")


def add_parser(sub: Any) -> None:
    """Add ``history``, ``show`` and ``compare`` to ``loadnb``'s subparsers."""
    h = sub.add_parser("history", help="list the runs kept in the history",
                       description="List the runs kept in the history, newest first.")
    h.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    h.add_argument("--limit", type=_positive, metavar="N", help="at most N runs")
    h.add_argument("--target", metavar="URL", help="only runs whose target contains URL")
    h.add_argument("--delete", metavar="RUN", help="delete RUN (an id, a prefix or 'last')")
    s = sub.add_parser("show", help="print a run's summary",
                       description="Print a run's summary (as 'loadnb run' does).")
    s.add_argument("run", metavar="RUN", help="a run id, a unique prefix, or 'last'")
    s.add_argument("--json", action="store_true", help="the summary as JSON (as run --json)")
    c = sub.add_parser("compare", help="compare two runs",
                       description="Compare run A (the baseline) with run B.")
    c.add_argument("a", metavar="A", help="the baseline run")
    c.add_argument("b", metavar="B", help="the run compared with it")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON")
    for parser in (h, s, c):
        parser.add_argument("--history", metavar="PATH",
                            help="the history database (default: $LOADNB_HISTORY, else the "
                                 "per-user data directory)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    """Run the history command in ``args``; the exit status (2 and one line on bad input)."""
    try:
        {"history": _history, "show": _show, "compare": _compare}[args.command](args)
    except (HistoryError, ValueError, sqlite3.Error) as exc:
        _error(str(exc))
        return ExitCode.USAGE
    return ExitCode.OK


def _history(args: argparse.Namespace) -> None:
    from ..history.reader import delete, list_runs

    if args.delete is not None:
        _print(f"deleted {delete(args.delete, args.history)}")
        return
    runs = list_runs(args.history, limit=args.limit, target=args.target)
    if args.json:
        _print(json.dumps(json_safe(runs)))
        return
    _print(format_runs(runs))


def format_runs(runs: list[dict[str, Any]]) -> str:
    """The runs as an aligned text table (one line each)."""
    if not runs:
        return "no runs in the history"
    head = ("run_id", "started_at", "state", "duration_s", "requests", "rps", "p99_ms", "target")
    rows = [[_cell(r[k] if k != "started_at" else r[k][:19]) for k in head] for r in runs]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [list(head), *rows]]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return fixed(value, 1) if value is None or isinstance(value, float) else str(value)


def _show(args: argparse.Namespace) -> None:
    from ..history.reader import load

    summary = strict_summary(load(args.run, args.history).summary)
    _print(json.dumps(summary) if args.json else format_summary(summary))


def _compare(args: argparse.Namespace) -> None:
    from ..history.comparison import compare

    result = compare(args.a, args.b, path=args.history)
    if args.json:
        _print(json.dumps(json_safe(result.as_dict())))
        return
    _print(result.text())
    _print(f"{len(result.regressions)} regression(s)")


__all__ = ["COMMANDS", "add_parser", "format_runs", "run"]
