"""``python -m loadnb.demo``: run the demo target server (what :func:`loadnb.demo.start` spawns)."""

from .server import main

__all__: list[str] = []

raise SystemExit(main())
