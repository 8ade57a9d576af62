"""What every ``loadnb`` command shares: the exit statuses (:class:`ExitCode`), bad input
(:class:`UsageError`, reported by :func:`_error` as one line), the parser that raises it, number
parsing, the one check of a file a command will write, negative values joined to their option
before argparse sees them, and when the process started (a run's start-up counts from it).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn


class ExitCode(IntEnum):
    """The exit status of ``loadnb``; a signal that stopped a run exits 128 + its number (130 for
    Ctrl-C, 143 for SIGTERM) after a clean stop and the partial summary."""

    OK = 0  #: the command did its work (a run finished, failed requests included)
    ERROR = 1  #: an internal error, or an output that could not be written
    USAGE = 2  #: bad input (a bad threshold expression too): one line, nothing started
    THRESHOLD = 3  #: the run finished and a threshold failed


class UsageError(ValueError):
    """Bad command-line input (reported as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + message
        raise UsageError(message)


def _error(message: str) -> None:
    """The one line of an error: ``loadnb: error: <message>`` on stderr."""
    sys.stderr.write(f"loadnb: error: {message}\n")
    sys.stderr.flush()


def _number(text: str | None, what: str) -> Any:
    """``"20"`` → 20, ``"2.5"`` → 2.5 (an int, a float or None): make_spec judges the rest."""
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{what} must be a finite number, got {text!r}")
    return value


def _output_file(text: str | None, flag: str, suffixes: Sequence[str] = ()) -> Path | None:
    """A file a command will write (``--out``, ``--junit``, ``--summary-md``, ``report -o``),
    checked before anything is loaded or sent: its suffix (one of ``suffixes``, if given), a
    folder that exists and is one, and a file that can be written there."""
    if text is None:
        return None
    path = Path(text)
    if suffixes and path.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} must end in {' or '.join(suffixes)}, got {text!r}")
    if path.is_dir():
        raise UsageError(f"{flag}: {text!r} is a directory")
    if not path.parent.is_dir():
        raise UsageError(f"{flag}: {_no_folder(path.parent)}")
    try:  # a real file, as the end of the run writes one: permissions, read-only or /proc
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write in {str(path.parent)!r}: "
                         f"{exc.strerror or exc}") from None
    try:  # a file that is there already is written over: it must let us
        if path.exists():
            with path.open("ab"):
                pass
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write {text!r}: {exc.strerror or exc}") from None
    return path


def _no_folder(folder: Path) -> str:
    """Why ``folder`` is not there to write in: it, or the nearest of its parents that exists,
    is a file; or it does not exist."""
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                return f"{str(part)!r} is not a directory"
            break
    return f"directory {str(folder)!r} does not exist"


#: Options whose value may start with "-" (``-d -3s`` reaches the range check, not argparse).
_VALUE_OPTIONS = frozenset({"-u", "--users", "-r", "--rate", "-d", "--duration", "-n",
                            "--requests", "--ramp-up", "--think-time", "--pacing",
                            "--max-in-flight", "--connections", "--timeout", "--graceful-stop",
                            "--interval", "--abort-grace", "--streams"})


def _join_negative(argv: list[str]) -> list[str]:
    """``["-d", "-3s"]`` → ``["-d=-3s"]`` (``--duration=-3s`` form) for the options that take a
    number or a time, so a negative value gets the range message instead of argparse's."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if arg in _VALUE_OPTIONS and len(nxt) > 1 and nxt[0] == "-" and (
                nxt[1].isdigit() or nxt[1] == "."):
            out.append(f"{arg}={nxt}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def process_started() -> float | None:
    """The wall time (``time.time()``) this process started, to the clock tick (Linux:
    ``/proc/self/stat`` against the boot-time clock, both counted from the boot); None where
    that is not known (the run then starts when it starts)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        ran = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return time.time() - max(0.0, ran)


__all__ = ["ExitCode", "UsageError", "process_started"]
