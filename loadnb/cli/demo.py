"""``loadnb demo ...``: the built-in demo target server (:func:`loadnb.demo.main`), which parses
its own arguments: :func:`loadnb.cli.command.main` hands them over before ``loadnb``'s parser sees
them, and the subparser here only lists the command in ``loadnb --help``."""

from __future__ import annotations

from typing import Any

NAME = "demo"


def add_parser(sub: Any) -> None:
    """List ``demo`` among ``loadnb``'s commands (its options are the demo server's)."""
    sub.add_parser(NAME, add_help=False, help="run the built-in demo target server "
                   "(loadnb demo --help)")


def run(argv: list[str]) -> int:
    """``loadnb demo ARGS``: the demo server's exit status."""
    from .. import demo

    return demo.main(argv)


__all__ = ["NAME", "add_parser", "run"]
