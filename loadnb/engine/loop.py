"""Running a coroutine to its end: the one helper every blocking entry point uses.

``loadnb.run``, ``loadnb.capacity``/``loadnb.sweep``, the ``loadnb`` command and each Dask
worker's share all end in :func:`run_to_end`. Outside an event loop (a script, the CLI, a Dask
worker's task thread) it runs the coroutine on a fresh loop — uvloop when installed, as anyio's
``run()`` picks its backend — and closes it (async generators too). Inside a running loop (a
notebook cell) it blocks that loop through nest-asyncio2: documented, because widget clicks are
not handled while it blocks; the notebook way is ``await``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the loop a run gets: uvloop's when installed, else the standard one."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end and return its result (see the module docstring).

    >>> run_to_end(asyncio.sleep(0, "done"))
    'done'
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _on_a_new_loop(coro)
    import nest_asyncio2

    nest_asyncio2.apply(loop)
    return loop.run_until_complete(coro)


def _on_a_new_loop(coro: Coroutine[Any, Any, T]) -> T:
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(coro)
    loop = loop_factory()()  # pragma: no cover - Python 3.10
    try:  # pragma: no cover
        return loop.run_until_complete(coro)
    finally:  # pragma: no cover
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


__all__ = ["loop_factory", "run_to_end"]
