"""``python -m loadnb.cli``: the command-line interface."""

from .command import main

raise SystemExit(main())
