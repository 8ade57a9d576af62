"""``loadnb app [URL]``: the dashboard app, Voila on 127.0.0.1 (see :mod:`loadnb.app.serve`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..spec.config import make_spec
from .args import ExitCode, _error


def add_parser(sub: Any) -> None:
    """Add ``app`` to ``loadnb``'s subparsers."""
    a = sub.add_parser("app", help="open the dashboard app (Voila) on 127.0.0.1",
                       description="Voila serving the dashboard app: the widget shows at once "
                                   "and nothing runs until Start (or --start).")
    a.add_argument("url", nargs="?", help="the target (default: the built-in demo server)")
    a.add_argument("--start", action="store_true", help="start streaming as the page opens")
    a.add_argument("--port", type=int, default=8866, metavar="N",
                   help="the port on 127.0.0.1 (default 8866; one in use is refused)")
    a.add_argument("--no-browser", action="store_true", help="do not open a browser")


def run(args: argparse.Namespace) -> int:
    """``loadnb app``: Voila on the app notebook until it ends or a signal ends it (see
    :mod:`loadnb.app.serve`); a bad URL or a busy port is bad input, before Voila starts."""
    import importlib.util

    from ..app import serve

    if args.url is not None:
        try:
            make_spec(args.url)
        except ValueError as exc:
            _error(str(exc))
            return ExitCode.USAGE
    problem = serve.port_problem(args.port)
    if problem is not None:
        _error(problem)
        return ExitCode.USAGE
    if importlib.util.find_spec("voila") is None:
        _error("the app needs Voila: pip install 'loadnb[notebook]'")
        return ExitCode.ERROR
    env = dict(os.environ)
    if args.url is not None:
        env["LOADNB_APP_URL"] = args.url
    if args.start:
        env["LOADNB_APP_START"] = "1"
    return serve.serve(env, args.port, open_browser=not args.no_browser, preheat=not args.start,
                       say=lambda line: sys.stderr.write(f"loadnb: {line}\n"))


__all__ = ["add_parser", "run"]
