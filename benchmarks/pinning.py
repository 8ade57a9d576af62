"""Where the benchmarks run: the tools they need, and the cores and niceness of every process
they start.

Pinning: nginx runs on core ``CORES.server``, every generator (wrk, loadnb, bare aiohttp) on
core ``CORES.generator`` (0 and 1 unless :func:`set_cores` is told otherwise: ``--cores``), with
``taskset -c``. On a machine with one core (or without ``taskset``) nothing is pinned and
:func:`pinning_note` says so.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Cores:
    """The core every generator is pinned to, and nginx's."""

    generator: int = 0
    server: int = 1


#: The cores in use (:func:`set_cores`).
CORES = Cores()


def find_tool(name: str) -> str | None:
    """The path of ``name`` on PATH or in the sbin directories (nginx lives in /usr/sbin)."""
    extra = os.pathsep.join(("/usr/local/sbin", "/usr/sbin", "/sbin"))
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + extra)


def missing_tools() -> list[str]:
    """Tools the benchmarks need that are not installed (nginx, wrk, taskset)."""
    return [name for name in ("nginx", "wrk", "taskset") if find_tool(name) is None]


def allowed_cores() -> set[int]:
    """The cores this process may run on (none known where the OS does not say: not Linux)."""
    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - not Linux
        return set()


def can_pin() -> bool:
    """Whether generator and server can be pinned to two different cores."""
    cores = allowed_cores()
    return (find_tool("taskset") is not None and CORES.generator in cores
            and CORES.server in cores)


#: Niceness for every process the benchmarks start (``--nice``; negative needs root). On a shared
#: machine a negative value keeps other processes from starving the measured ones.
_NICE = [0]


def set_nice(value: int) -> None:
    """Run every later nginx, wrk and generator with ``nice -n value``."""
    _NICE[0] = value


def set_cores(text: str) -> None:
    """Pin every later generator and nginx to the cores ``"GENERATOR,SERVER"`` (``--cores``: on
    a machine with cores kept free of other work, e.g. by ``isolcpus``, the figures measure the
    code, not the neighbours). ValueError unless they are two different cores this process may
    run on."""
    try:
        generator, server = (int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--cores takes two core numbers, GENERATOR,SERVER: {text!r}") from None
    allowed = allowed_cores()
    if generator == server or not {generator, server} <= allowed:
        raise ValueError(f"--cores {text}: two different cores of {sorted(allowed)}")
    CORES.generator, CORES.server = generator, server


def add_pinning_options(parser: argparse.ArgumentParser) -> None:
    """``--nice N`` and ``--cores G,S``, for :func:`apply_pinning_options`."""
    parser.add_argument("--nice", type=int, default=0,
                        help="run nginx and the generators under nice -n N (e.g. -10, as root, "
                             "on a busy shared machine)")
    parser.add_argument("--cores", default="",
                        help="GENERATOR,SERVER: the cores to pin the generators and nginx to "
                             "(default 0,1; e.g. cores kept free by isolcpus)")


def apply_pinning_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """:func:`set_nice` and :func:`set_cores` from the options; a usage error (exit 2) if bad."""
    if args.nice < 0 and os.geteuid() != 0:
        parser.error("--nice below 0 needs root")
    set_nice(args.nice)
    if args.cores:
        try:
            set_cores(args.cores)
        except ValueError as exc:
            parser.error(str(exc))


def pinned(core: int, argv: Sequence[str]) -> list[str]:
    """``argv`` run on CPU ``core`` (``taskset -c``), or unpinned when pinning is not possible;
    under ``nice`` when :func:`set_nice` asked for it."""
    out = list(argv)
    if can_pin():
        out = [find_tool("taskset") or "taskset", "-c", str(core), *out]
    if _NICE[0]:
        out = [find_tool("nice") or "nice", "-n", str(_NICE[0]), *out]
    return out


def pinning_note() -> str:
    """One line on how load generator and server share the CPUs."""
    nice = f", nice {_NICE[0]}" if _NICE[0] else ""
    if can_pin():
        return (f"generator pinned to core {CORES.generator}, nginx to core {CORES.server} "
                f"(taskset -c){nice}")
    return f"NOT pinned (needs taskset and two cores): generator and nginx share the CPUs{nice}"
