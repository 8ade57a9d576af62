"""``python -m loadnb.cli``: the command-line interface."""

from .command import main

__all__: list[str] = []

raise SystemExit(main())
