"""``loadnb app``: Voila serving the app notebook on 127.0.0.1 until a signal ends it.

Voila runs in its own session (process group), so a terminal's Ctrl-C reaches ``loadnb app``
alone, and every way of ending it is the same: on SIGINT, SIGTERM or SIGHUP, Voila's group gets
SIGTERM (Voila then shuts its kernels down; a kernel's demo server exits with its kernel), then
SIGKILL if it has not exited within :data:`GRACE_S` (a kernel whose Voila is gone exits by itself:
it polls its parent). A second signal kills at once. The exit status is 128 + the signal's number.
SIGKILL cannot be caught: on Linux, Voila is started with a parent-death signal (SIGTERM), so it
ends when ``loadnb app`` dies whatever the cause.

The port is the one asked for or none: a port in use is refused before Voila starts (bad input),
and Voila is told not to try others (``port_retries=0``), so the address printed is the one served.

Voila keeps a kernel that has run the app ready for the next page (``preheat_kernel``): the page
then waits only for the browser, not for a kernel to start and import the widget (measured in
``tests/app/test_app.py``). Not with ``--start``: the run would start in a kernel no page shows.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import partial
from types import FrameType
from typing import Any

from . import NOTEBOOK

HOST = "127.0.0.1"
#: How long Voila gets to shut its kernels down after SIGTERM before its group is killed.
GRACE_S = 10.0
#: The signals that end the app (each forwarded to Voila as SIGTERM).
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name))
_PR_SET_PDEATHSIG = 1  #: prctl(2): the signal a process gets when its parent dies (Linux)


def port_problem(port: int) -> str | None:
    """Why Voila could not serve ``port`` on 127.0.0.1 (one line), or None if it can now."""
    if not 1 <= port <= 65535:
        return f"--port must be between 1 and 65535, got {port}"
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Tornado binds
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {HOST} is in use: choose another with --port"
            return f"cannot listen on {HOST}:{port} ({exc.strerror or exc}): choose another --port"
    return None


def voila_command(port: int, *, open_browser: bool, preheat: bool) -> list[str]:
    """The Voila command line serving the app notebook on ``HOST:port`` and no other port
    (``preheat``: with a kernel that has run the notebook before the page is asked for)."""
    return [sys.executable, "-m", "voila", f"--port={port}", f"--Voila.ip={HOST}",
            "--Voila.port_retries=0", *([] if open_browser else ["--no-browser"]),
            *(["--VoilaConfiguration.preheat_kernel=True"] if preheat else []), str(NOTEBOOK)]


def _end_with(parent: int) -> None:
    """In Voila's process, before it runs: on Linux, get SIGTERM when ``parent`` (``loadnb app``)
    dies, even by SIGKILL (which it cannot catch to end Voila itself); elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # no prctl: the signal handlers still end it
        return
    if os.getppid() != parent:  # it died before prctl: end now
        os.kill(os.getpid(), signal.SIGTERM)


class _Ender:
    """Signal handlers that end Voila's process group: SIGTERM, then SIGKILL after the grace
    (at once on a second signal). A signal caught before Voila is started ends it on
    :meth:`attach`."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.proc: subprocess.Popen[bytes] | None = None
        self.caught: list[int] = []
        self._timer: threading.Timer | None = None
        self._previous: dict[int, Any] = {}

    def send(self, *, kill: bool) -> None:
        """SIGTERM (or SIGKILL) to Voila's process group; nothing before it is started or once
        it is gone (where there are no process groups, to Voila alone)."""
        proc = self.proc
        if proc is None or proc.pid <= 0:
            return
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            else:  # pragma: no cover - Windows
                proc.kill() if kill else proc.terminate()
        except (ProcessLookupError, PermissionError):
            pass

    def _end(self) -> None:
        self.send(kill=False)
        self._timer = threading.Timer(self.grace, self.send, kwargs={"kill": True})
        self._timer.daemon = True
        self._timer.start()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.caught:
            self.send(kill=True)
            return
        self.caught.append(signum)
        if self.proc is not None:
            self._end()

    def attach(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        if self.caught:
            self._end()

    def install(self) -> None:
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._timer is not None:
            self._timer.cancel()


def serve(env: dict[str, str], port: int, *, open_browser: bool, preheat: bool,
          say: Callable[[str], object]) -> int:
    """Run Voila on the app notebook at ``HOST:port`` with ``env`` until it ends or a signal
    ends it; returns its exit status, or 128 + the signal's number. ``say`` prints a line."""
    say(f"the app on http://{HOST}:{port}/ (Ctrl-C ends it)")
    cmd = voila_command(port, open_browser=open_browser, preheat=preheat)
    ender = _Ender(GRACE_S)
    ender.install()
    try:
        proc = subprocess.Popen(cmd, env=env, start_new_session=True,  # noqa: S603
                                preexec_fn=partial(_end_with, os.getpid()))
        ender.attach(proc)
        try:
            code = proc.wait()
        except BaseException:  # leave nothing behind
            ender.send(kill=True)
            proc.wait()
            raise
    finally:
        ender.uninstall()
    return 128 + ender.caught[0] if ender.caught else code


__all__ = ["GRACE_S", "HOST", "port_problem", "serve", "voila_command"]
