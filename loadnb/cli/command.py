"""The ``loadnb`` command: the parser assembled from the command modules (``run``, ``history``
with ``show`` and ``compare``, ``capacity``, ``report``, ``app``, ``demo``: each registers its
subparser with ``add_parser(sub)`` and runs with ``run(args)``) and :func:`main`, which
dispatches to them.

Bad input is one line, ``loadnb: error: <message>`` on stderr, exit status 2, nothing started.
The live line and the summary table go to stderr; stdout carries only the ``--json`` object.

Exit status (:class:`~loadnb.cli.args.ExitCode`): 0 the run finished (failed requests included,
see :func:`loadnb.cli.run.result_exit_code`), 3 it finished and a threshold failed, 1 an internal
error, 2 bad input (a bad threshold expression too), 128 + signal number when interrupted (130
for Ctrl-C, 143 for SIGTERM) after a clean stop and the partial summary.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable

from .._version import __version__
from . import app, capacity, demo, history, report, run
from .args import ExitCode, UsageError, _error, _join_negative, _Parser

#: Each command's ``add_parser``, in the order ``loadnb --help`` lists them.
_PARSERS = (run.add_parser, history.add_parser, capacity.add_parser, report.add_parser,
            app.add_parser, demo.add_parser)
#: The command → its module's ``run(args)`` (``demo`` parses its own arguments: see main).
_RUNS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": run.run, **dict.fromkeys(history.COMMANDS, history.run), "capacity": capacity.run,
    "report": report.run, "app": app.run}


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="loadnb", description="Notebook-native HTTP load testing, from a terminal.")
    p.add_argument("--version", action="version", version=f"loadnb {__version__}")
    sub = p.add_subparsers(dest="command",
                           metavar="{run,demo,app,history,show,compare,report,capacity}")
    for add_parser in _PARSERS:
        add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """The ``loadnb`` command; returns the exit status (see the module docstring).

    >>> main(["run", "http://127.0.0.1:8000/", "--rate", "200", "-d", "5s"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == demo.NAME:
            return demo.run(argv[1:])
        try:
            args = _parser().parse_args(_join_negative(argv))
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else ExitCode.OK
        except UsageError as exc:
            _error(str(exc))
            return ExitCode.USAGE
        command = _RUNS.get(args.command)
        if command is None:
            _error("a command is required: loadnb run URL [options] | loadnb demo (see --help)")
            return ExitCode.USAGE
        return command(args)
    except KeyboardInterrupt:  # before the run's own handlers are in place
        sys.stderr.write("\n")
        return 128 + signal.SIGINT
    except BrokenPipeError:  # e.g. `loadnb run ... --json | head -c 10`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.ERROR


__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
