"""Serving the demo app in this process: :func:`serve` and ``loadnb demo`` (:func:`main`).

Listens on loopback only. Once listening it prints one ready line (:data:`_READY`), which is how a
parent process (:mod:`loadnb.demo.process`) learns the URL; with ``--parent-pid`` it exits when that
parent dies.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import os
import re
import signal
import sys
from typing import Any, NoReturn

from aiohttp import web

from .app import _Bad, _integer, create_app

_READY = re.compile(r"loadnb demo server on (http://\S+/)")  #: the line printed once listening
_PARENT_POLL_S = 0.5  #: how often the parent-pid watchdog looks


class PortUnavailable(OSError):
    """The port asked for cannot be had: another server holds it, or it needs privileges."""


async def _listen(runner: web.AppRunner, host: str, port: int) -> None:
    """Listen on ``host:port``; :class:`PortUnavailable` (one line) when the port is taken or
    forbidden, any other OSError as it comes."""
    try:
        await web.TCPSite(runner, host, port, backlog=1024).start()
    except OSError as exc:
        reason = {errno.EADDRINUSE: "is in use", errno.EACCES: "is not allowed to this user"}
        if exc.errno not in reason:
            raise
        raise PortUnavailable(exc.errno, f"port {port} on {host} {reason[exc.errno]} "
                                         f"({os.strerror(exc.errno).lower()})") from None


def _loopback(host: str) -> str:
    """``host`` if it is a loopback address (``localhost`` becomes 127.0.0.1), else ValueError."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"the demo server listens on loopback only (e.g. 127.0.0.1), not {host!r}")


def _stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT/SIGTERM where the loop can (not on Windows, not off the main
    thread)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


async def _until_stopped(stop: asyncio.Event, parent_pid: int | None) -> None:
    """Return when ``stop`` is set or, with a ``parent_pid`` (POSIX), when that parent is gone."""
    if parent_pid is None or sys.platform == "win32":
        await stop.wait()
    while not stop.is_set() and os.getppid() == parent_pid:  # we end when the parent dies
        try:
            await asyncio.wait_for(stop.wait(), _PARENT_POLL_S)
        except asyncio.TimeoutError:
            pass


async def _serve(host: str, port: int, app: web.Application, parent_pid: int | None) -> None:
    """Listen, print the ready line with the real port, serve until stopped, clean up."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await _listen(runner, host, port)
        real_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        print(f"loadnb demo server on http://{shown}:{real_port}/", flush=True)
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await _until_stopped(stop, parent_pid)
    finally:
        await runner.cleanup()


def serve(host: str = "127.0.0.1", port: int = 8000, *, parent_pid: int | None = None,
          **app_options: Any) -> None:
    """Run the demo server in this process until SIGINT/SIGTERM (blocking; uses uvloop if present).

    Prints ``loadnb demo server on http://127.0.0.1:PORT/`` once listening (the real port when
    ``port=0``), which is how a parent process learns the URL. ``app_options`` go to
    :func:`create_app`. Refuses non-loopback hosts with ValueError; a port another server holds
    raises :class:`PortUnavailable` (an OSError). With ``parent_pid`` it exits
    when that process (its parent) dies. Not for a running event loop: use :func:`start` there.

    >>> serve(port=8080, latency_ms=50)  # doctest: +SKIP
    """
    host = _loopback(host)
    _integer("port", port, 0, 65535)
    app = create_app(**app_options)
    if parent_pid is not None and sys.platform != "win32" and os.getppid() != parent_pid:
        raise RuntimeError(f"parent process {parent_pid} is gone")
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(host, port, app, parent_pid))
    else:
        uvloop.run(_serve(host, port, app, parent_pid))


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: no usage block, no traceback."""

    def error(self, message: str) -> NoReturn:
        raise _Bad(message)


def _parser() -> argparse.ArgumentParser:
    """The ``loadnb demo`` options."""
    p = _Parser(prog="loadnb demo", description="Run the loadnb demo target on 127.0.0.1.")
    p.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 = any free port")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="uniform ± jitter on the latency")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of 500 answers (0..1)")
    p.add_argument("--seed", type=int, default=None, help="seed for repeatable randomness")
    p.add_argument("--parent-pid", type=int, default=None, help="exit when this parent dies")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m loadnb.demo --port 0 --latency-ms 20`` (and ``loadnb demo``).

    Returns the exit status: 0 after a clean stop, 2 for bad arguments or a port that is taken
    (or needs privileges), 1 if it cannot listen for another reason; errors are one line on
    stderr.

    >>> main(["--port", "0", "--error-rate", "0.1"])  # doctest: +SKIP
    """
    try:
        a = _parser().parse_args(argv)
        _integer("--port", a.port, 0, 65535)
        host = _loopback(a.host)
        options = {"latency_ms": a.latency_ms, "jitter_ms": a.jitter_ms,
                   "error_rate": a.error_rate, "seed": a.seed}
        create_app(**options)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except ValueError as exc:
        print(f"loadnb demo: error: {exc}", file=sys.stderr)
        return 2
    try:
        serve(host, a.port, parent_pid=a.parent_pid, **options)
    except PortUnavailable as exc:
        print(f"loadnb demo: error: {exc.strerror}: pick another --port, or --port 0 for a free "
              "one", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:
        print(f"loadnb demo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


__all__ = ["PortUnavailable", "main", "serve"]
