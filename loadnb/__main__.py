"""``python -m loadnb``: the command-line interface."""

from .cli import main

__all__: list[str] = []

raise SystemExit(main())
