"""``python -m loadnb.demo``: run the demo target server (what :func:`loadnb.demo.start` spawns)."""

from .server import main

raise SystemExit(main())
