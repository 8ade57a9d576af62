"""loadnb: notebook-native HTTP load testing.

Generate load, watch it live, analyse the numbers in place::

    import loadnb
    url = await loadnb.demo.start()                        # built-in target, its own process
    test = loadnb.LoadTest(url, users=20, duration="30s")  # the widget; displays itself
    await test.run()
    test.df.tail()

In a script: ``result = loadnb.run(url, rate=500, duration=60)``. The widget (``LoadTest``) and
the demo server are imported on first use, so ``import loadnb`` needs no ipywidgets. Every run is
kept in the history (``loadnb.history()``, ``loadnb.load("last")``, ``loadnb.compare(a, b)``).
Scale out on Dask with ``workers=N``, or keep a cluster across runs:
``with loadnb.cluster(workers=4) as c: loadnb.run(url, users=100, cluster=c)``.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._version import __version__
from .metrics.snapshot import Snapshot
from .results.result import Result
from .rules.alert_engine import AlertEvent, AlertRule
from .rules.alerts import default_rules
from .runner.run import Run, arun, run
from .spec.config import LoadSpec, make_spec
from .text.units import parse_duration

if _typing.TYPE_CHECKING:
    from . import demo as demo
    from .distributed.cluster import cluster as cluster
    from .history import compare as compare
    from .history import load as load
    from .studies.capacity import acapacity as acapacity
    from .studies.capacity import capacity as capacity
    from .studies.sweep import asweep as asweep
    from .studies.sweep import sweep as sweep
    from .ui import LoadTest as LoadTest

__all__ = [
    "AlertEvent",
    "AlertRule",
    "LoadSpec",
    "LoadTest",
    "Result",
    "Run",
    "Snapshot",
    "__version__",
    "acapacity",
    "arun",
    "asweep",
    "capacity",
    "cluster",
    "compare",
    "default_rules",
    "demo",
    "history",
    "load",
    "make_spec",
    "parse_duration",
    "run",
    "sweep",
]


def __getattr__(name: str) -> _typing.Any:
    if name == "LoadTest":
        return _importlib.import_module(".ui", __name__).LoadTest
    if name == "demo":
        return _importlib.import_module(".demo", __name__)
    if name == "history":  # a callable module: loadnb.history() is the runs' DataFrame
        return _importlib.import_module(".history", __name__)
    if name in ("load", "compare"):
        return getattr(_importlib.import_module(".history", __name__), name)
    if name in ("capacity", "sweep"):  # callable modules: loadnb.capacity(url, slo=[...])
        return _importlib.import_module(f".studies.{name}", __name__)
    if name == "cluster":  # Dask is imported when a cluster starts, not before
        return _importlib.import_module(".distributed.cluster", __name__).cluster
    if name == "acapacity":
        return _importlib.import_module(".studies.capacity", __name__).acapacity
    if name == "asweep":
        return _importlib.import_module(".studies.sweep", __name__).asweep
    raise AttributeError(f"module 'loadnb' has no attribute {name!r}")
