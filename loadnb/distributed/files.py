"""Scenario files on the workers: the text a ``--scenario`` file ran here, run again there.

A scenario loaded from a file (:func:`loadnb.spec.scenario.load_scenario`) lives in a module that no
worker can import: the file may not exist on the worker's machine, and is on nobody's
``sys.path``. Its tasks pickle by reference to that module, so before a run the driver finds the
modules its scenario's tasks come from (:func:`scenario_modules`: those that kept their text as
``__loadnb_source__``) and each worker runs that text as a module of the same name
(:func:`install_modules`, through ``client.run``); the tasks then unpickle there as they do
here. The module's own code runs once per run on each worker, as it ran once here; ``__file__``
is the driver's path. :func:`forget_modules` removes them at the end of the run.

Nothing here imports Dask: the driver side reads the spec, the worker side runs plain Python.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import types
from typing import Any

from ..spec.config import LoadSpec

#: One module to install: ``(module name, file path on the driver, source text)``.
Module = tuple[str, str, str]

_LOCK = threading.Lock()
_INSTALLED: dict[str, list[str]] = {}  # run id -> module names installed for it


def scenario_modules(spec: LoadSpec) -> list[Module]:
    """The modules ``spec``'s scenario tasks come from that workers must be sent as text."""
    if spec.scenario is None:
        return []
    found: dict[str, Module] = {}
    for task in spec.scenario.tasks:
        name = getattr(task, "__module__", None)
        module = sys.modules.get(name) if isinstance(name, str) else None
        kept: Any = getattr(module, "__loadnb_source__", None)
        if module is not None and isinstance(kept, tuple) and len(kept) == 2:
            found[module.__name__] = (module.__name__, str(kept[0]), str(kept[1]))
    return list(found.values())


def install_modules(run_id: str, modules: list[Module]) -> str:
    """Run each module's text as a module of its name, for ``run_id`` (on a worker); returns
    ``""``, or why a module failed (one line: its file and the error)."""
    names: list[str] = []
    try:
        for name, file, source in modules:
            module = types.ModuleType(name)
            module.__file__ = file
            module.__loadnb_source__ = (file, source)  # type: ignore[attr-defined]
            sys.modules[name] = module  # before running it: dataclasses look their module up
            names.append(name)
            try:
                exec(compile(source, file, "exec"), module.__dict__)  # noqa: S102
            except BaseException as exc:  # noqa: BLE001 - reported to the driver, one line
                text = " ".join(str(exc).split())
                return f"{file} failed to import: {type(exc).__name__}: {text}"
    finally:
        with _LOCK:
            _INSTALLED.setdefault(run_id, []).extend(names)
    return ""


def is_installed(run_id: str) -> bool:
    """Whether :func:`install_modules` ran here for ``run_id``."""
    with _LOCK:
        return run_id in _INSTALLED


async def send_files(client: Any, run_id: str, modules: list[Module], workers: list[str],
                     timeout: float) -> None:
    """Install ``modules`` on ``workers`` for ``run_id`` (``client.run``, bounded); a module
    that fails on one raises ``RuntimeError`` naming the worker and the error (one line)."""
    if not modules:
        return
    done = await asyncio.wait_for(client.run(install_modules, run_id, modules, workers=workers,
                                             on_error="return"), timeout)
    for addr, outcome in sorted(done.items()):
        if outcome != "":
            what = outcome if isinstance(outcome, str) else f"{type(outcome).__name__}: {outcome}"
            text = " ".join(f"the scenario cannot run on the Dask worker {addr}: {what}".split())
            raise RuntimeError(text)


def forget_modules(run_id: str) -> None:
    """Remove the modules installed for ``run_id`` (the tasks that use them keep them alive)."""
    with _LOCK:
        names = _INSTALLED.pop(run_id, [])
        busy = {n for other in _INSTALLED.values() for n in other}
    for name in names:
        if name not in busy:
            sys.modules.pop(name, None)


__all__ = ["Module", "forget_modules", "install_modules", "is_installed", "scenario_modules",
           "send_files"]
