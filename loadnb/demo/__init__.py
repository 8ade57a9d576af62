"""The built-in demo target: an aiohttp.web server on 127.0.0.1 for notebooks, README and tests.

Load endpoints (all honour the server defaults and the per-request query overrides ``delay_ms``,
``jitter_ms``, ``error_rate`` and ``status``): ``GET /``, ``GET /delay``, ``GET /status/{code}``,
``GET /bytes/{n}`` and the JSON API ``GET|POST /api/items``, ``GET /api/items/{id}``. ``GET /stats``
reports what the server counted; ``POST /stats/reset`` zeroes it; ``GET /metrics`` is the
same counts and the process's CPU, memory and open fds as Prometheus exposition. In a notebook, run
it in its own process (``url = await loadnb.demo.start()``) so it does not compete with the load
generator.

Modules: :mod:`~loadnb.demo.app` (the application), :mod:`~loadnb.demo.server` (serving it in this
process: :func:`serve`, the ``loadnb demo`` command :func:`main`) and :mod:`~loadnb.demo.process`
(a child process: :func:`start`/:func:`stop` and their blocking twins, one lifecycle; :func:`pid`).
A standalone target: it imports nothing else from loadnb.
"""

from __future__ import annotations

from .app import MAX_BYTES, MAX_DELAY_MS, MAX_ITEMS, MAX_PATHS, create_app
from .process import pid, start, start_sync, stop, stop_sync
from .server import main, serve

__all__ = [
    "MAX_BYTES",
    "MAX_DELAY_MS",
    "MAX_ITEMS",
    "MAX_PATHS",
    "create_app",
    "main",
    "pid",
    "serve",
    "start",
    "start_sync",
    "stop",
    "stop_sync",
]
