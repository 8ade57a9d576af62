"""The demo server in a child process: one lifecycle behind both the async and the sync API.

Starting (:func:`start`, :func:`start_sync`) is the same three steps: :func:`_spawn` runs
``python -m loadnb.demo --port ... --parent-pid <this pid>`` with ``subprocess.Popen`` and a reader
thread that resolves a ``concurrent.futures.Future`` with the URL from the child's ready line ('' if
its stdout ends first); the caller waits for that future, blocking (sync) or awaiting it on the
running loop (async); :func:`_settle` then registers the child or kills it and raises. Only that
wait differs, so a start works the same in a script, in a running loop and in a Jupyter kernel.

Stopping (:func:`stop`, :func:`stop_sync`) pops the children from the one :data:`_REGISTRY` and
reaps them with :func:`_reap`; the async one runs it in a worker thread. Whatever is still
registered is stopped at interpreter exit, and a child exits by itself when this process dies.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .app import _integer, create_app
from .server import _READY

_MAX_STRAY_LINES = 100  #: lines of other output skipped while looking for the ready line
_GRACE_S = 5.0  #: how long a child gets to exit after SIGTERM (and again after SIGKILL)


@dataclass(eq=False)
class _Child:
    """One demo server process: its pipes, and the reader thread that finds its URL."""

    process: subprocess.Popen[bytes]
    stderr: IO[bytes]
    reader: threading.Thread
    ready: concurrent.futures.Future[str]  #: resolved by the reader: the URL, or ''
    url: str = ""

    def signal(self, *, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL) it; nothing if it is already gone."""
        try:
            self.process.kill() if kill else self.process.terminate()
        except (ProcessLookupError, OSError):
            pass

    def wait(self) -> int | None:
        """Its exit status, waiting at most _GRACE_S; None if it is still running."""
        try:
            return self.process.wait(_GRACE_S)
        except subprocess.TimeoutExpired:
            return None

    def close(self, error: str = "") -> RuntimeError:
        """Release the pipes; returns the error to raise, with the tail of the child's stderr."""
        self.reader.join(_GRACE_S)  # it ends at EOF; don't close stdout under it
        if self.process.stdout:
            self.process.stdout.close()
        self.stderr.seek(0)
        tail = self.stderr.read()[-4000:].decode(errors="replace").strip()
        self.stderr.close()
        return RuntimeError(f"demo server {error}: {tail or '(no stderr)'}")

    def discard(self, error: str = "") -> RuntimeError:
        """Kill it, reap it, release its pipes; returns the error as :meth:`close` does, with
        ``{status}`` in ``error`` replaced by its exit status."""
        self.signal(kill=True)
        return self.close(error.format(status=self.wait()))


class _Registry:
    """The demo servers this process started (by URL); they are stopped at interpreter exit."""

    def __init__(self) -> None:
        self.children: dict[str, _Child] = {}

    def add(self, child: _Child) -> None:
        """Register a started child under its URL (and make sure :func:`stop_sync` runs at
        exit)."""
        if not self.children:
            atexit.unregister(stop_sync)
            atexit.register(stop_sync)
        self.children[child.url] = child

    def pop(self, url: str | None) -> list[_Child]:
        """Unregister and return the child at ``url`` (all of them if None); ValueError if
        unknown."""
        if url is None:
            found, self.children = list(self.children.values()), {}
            return found
        url = url if url.endswith("/") else url + "/"
        if url not in self.children:
            raise ValueError(f"no demo server started here at {url}; have {list(self.children)}")
        return [self.children.pop(url)]


_REGISTRY = _Registry()


def _command(port: int, latency_ms: float, jitter_ms: float, error_rate: float,
             seed: int | None) -> tuple[list[str], dict[str, str]]:
    """Validate the options (ValueError) and return the child's command line and environment."""
    _integer("port", port, 0, 65535)
    create_app(latency_ms=latency_ms, jitter_ms=jitter_ms, error_rate=error_rate, seed=seed)
    cmd = [sys.executable, "-m", "loadnb.demo", "--port", str(port), "--parent-pid",
           str(os.getpid()), "--latency-ms", repr(float(latency_ms)), "--jitter-ms",
           repr(float(jitter_ms)), "--error-rate", repr(float(error_rate))]
    cmd += [] if seed is None else ["--seed", str(seed)]
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[2]  # make this very copy importable in the child
    if root.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return cmd, env


def _read_ready(stdout: IO[bytes], ready: concurrent.futures.Future[str]) -> None:
    """The reader thread: resolve ``ready`` with the URL of the ready line, or '' if stdout ends
    (or _MAX_STRAY_LINES other lines come) first."""
    url = ""
    try:
        for _, line in zip(range(_MAX_STRAY_LINES), stdout, strict=False):
            match = _READY.search(line.decode(errors="replace"))
            if match:
                url = match.group(1)
                break
    except (OSError, ValueError):  # its pipe was closed under us
        pass
    finally:
        try:
            ready.set_result(url)
        except concurrent.futures.InvalidStateError:  # cancelled: nobody is waiting
            pass


def _spawn(port: int, latency_ms: float, jitter_ms: float, error_rate: float,
           seed: int | None) -> _Child:
    """Validate the options and start the child and its reader thread (does not wait)."""
    cmd, env = _command(port, latency_ms, jitter_ms, error_rate, seed)
    stderr = tempfile.TemporaryFile()  # a file: a full stderr pipe would block the child
    try:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr)
    except BaseException:
        stderr.close()
        raise
    ready = concurrent.futures.Future[str]()
    reader = threading.Thread(target=_read_ready, args=(proc.stdout, ready), daemon=True,
                              name="loadnb-demo-start")
    reader.start()
    return _Child(proc, stderr, reader, ready)


def _settle(child: _Child, url: str | None, timeout: float) -> str:
    """Register the child under ``url`` and return it; with no URL (None: the wait timed out,
    '': its stdout ended) kill and reap it and raise RuntimeError with its stderr."""
    if url:
        child.url = url
        _REGISTRY.add(child)
        return url
    if url is None:
        raise child.discard(f"did not start within {timeout} s")
    raise child.discard("exited (status {status}) before it was ready")


async def start(port: int = 0, *, latency_ms: float = 0, jitter_ms: float = 0,
                error_rate: float = 0, seed: int | None = None, timeout: float = 15.0) -> str:
    """Start the demo server in its own process; return its URL, e.g. ``http://127.0.0.1:43211/``.

    Its own process, so it never competes with the load generator on the notebook's event loop;
    it stops with :func:`stop`, at interpreter exit, or when this process dies. Options as in
    :func:`create_app`. Raises ValueError for bad options, RuntimeError (with the child's stderr)
    if it is not listening within ``timeout`` seconds. The same lifecycle as :func:`start_sync`,
    awaited instead of blocking.

    >>> url = await loadnb.demo.start(latency_ms=20)  # doctest: +SKIP
    """
    child = _spawn(port, latency_ms, jitter_ms, error_rate, seed)
    try:
        done, _ = await asyncio.wait([asyncio.wrap_future(child.ready)], timeout=timeout)
    except BaseException:  # cancelled: don't leave it behind
        child.discard()
        raise
    return _settle(child, child.ready.result() if done else None, timeout)


def start_sync(port: int = 0, *, latency_ms: float = 0, jitter_ms: float = 0,
               error_rate: float = 0, seed: int | None = None, timeout: float = 15.0) -> str:
    """Blocking :func:`start` for scripts (also works, blocking it, inside a running loop);
    stop it with :func:`stop_sync` or :func:`stop`.

    >>> url = start_sync(error_rate=0.05)  # doctest: +SKIP
    """
    child = _spawn(port, latency_ms, jitter_ms, error_rate, seed)
    try:
        url: str | None = child.ready.result(timeout)
    except concurrent.futures.TimeoutError:
        url = None
    except BaseException:  # e.g. KeyboardInterrupt: don't leave it behind
        child.discard()
        raise
    return _settle(child, url, timeout)


def _reap(children: list[_Child]) -> None:
    """SIGTERM them all, wait for each (SIGKILL one that does not exit in time), release pipes."""
    for child in children:
        child.signal()
    for child in children:
        if child.wait() is None:
            child.signal(kill=True)
            child.wait()
        child.close()


async def stop(url: str | None = None) -> None:
    """Stop the demo server at ``url`` (or all of them if None), however it was started.

    Waits (a few seconds at most, in a worker thread) until the process is gone. Raises
    ValueError for an unknown URL.

    >>> await loadnb.demo.stop(url)  # doctest: +SKIP
    """
    await asyncio.to_thread(_reap, _REGISTRY.pop(url))


def stop_sync(url: str | None = None) -> None:
    """Blocking :func:`stop` (or all if None); also what runs at interpreter exit.

    >>> stop_sync()  # doctest: +SKIP
    """
    _reap(_REGISTRY.pop(url))


def pid(url: str) -> int:
    """The process id of the demo server started here at ``url`` (to watch it: ``watch_pid=``);
    ValueError for an unknown URL.

    >>> loadnb.demo.pid(url)  # doctest: +SKIP
    12345
    """
    key = url if url.endswith("/") else url + "/"
    child = _REGISTRY.children.get(key)
    if child is None:
        raise ValueError(f"no demo server started here at {url}; have "
                         f"{list(_REGISTRY.children)}")
    return child.process.pid


__all__ = ["pid", "start", "start_sync", "stop", "stop_sync"]
