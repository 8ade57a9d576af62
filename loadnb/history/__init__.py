"""The run history: every run kept as it goes in SQLite, listed, loaded back, compared.

:func:`open_writer` is what a :class:`~loadnb.runner.run.Run` calls at its start: it returns a sink
(called with every snapshot, after the record has it) with a ``close()`` called once the run's
final state is known. The database is ``LOADNB_HISTORY`` (a path, or ``off``), else
``platformdirs.user_data_dir("loadnb")/history.sqlite``; ``history=`` of a run overrides both.
Nothing is opened or created at import.

The module is callable: ``loadnb.history()`` is :func:`history` (the runs as a DataFrame)::

    loadnb.history(limit=5)                  # run_id, started_at, target, ..., state, tags, note
    result = loadnb.load("last")             # a Result, as the live run's
    loadnb.history.tag(result, "baseline")
    loadnb.compare("baseline-id", result)    # a table of differences, displays itself
"""

from __future__ import annotations

import os
import sys
import types
from typing import TYPE_CHECKING, Any, Protocol

from ..record.record import RunRecord
from ..record.update import Update

if TYPE_CHECKING:
    import pandas as pd

    from ..results.result import Result
    from .comparison import Comparison

PathLike = str | os.PathLike[str] | None


class HistoryWriter(Protocol):
    """A sink that keeps one run: ``writer(update)`` per interval, ``close()`` at the end."""

    def __call__(self, update: Update) -> None: ...

    def close(self) -> None: ...


def open_writer(record: RunRecord) -> HistoryWriter | None:
    """The writer of ``record``'s run; None when the history is off (``history="off"`` or
    ``LOADNB_HISTORY=off``). The database is created (and migrated) here, at the run's start."""
    from .store import resolve_path
    from .writer import SqliteWriter

    path = resolve_path(record.spec.history)
    return None if path is None else SqliteWriter(record, path)


def history(path: PathLike = None, *, limit: int | None = None,
            target: str | None = None) -> pd.DataFrame:
    """The runs in the history, newest first, as a DataFrame (``target``: URL substring).

    Columns: run_id, started_at, target, model, duration_s, requests, success_rate, rps,
    p95_ms, p99_ms, state (done, stopped, failed, interrupted or running), snapshots, tags, note.
    """
    import pandas as pd

    from .reader import LISTING_COLUMNS, list_runs

    rows = list_runs(path, limit=limit, target=target)
    frame = pd.DataFrame(rows, columns=list(LISTING_COLUMNS))
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601")
    return frame


def load(run: str = "last", path: PathLike = None) -> Result:
    """The run ``run`` (an id, a unique prefix, or ``last``) read back as a Result."""
    from .reader import load as _load

    return _load(run, path)


def tag(run: object, label: str, path: PathLike = None) -> list[str]:
    """Tag a run (a Result, an id, a prefix or ``last``), e.g. ``"baseline"``; its tags."""
    from .reader import tag as _tag

    return _tag(run, label, path)


def note(run: object, text: str, path: PathLike = None) -> None:
    """Set a run's note."""
    from .reader import note as _note

    _note(run, text, path)


def delete(run: object, path: PathLike = None) -> str:
    """Delete a run from the history; its id."""
    from .reader import delete as _delete

    return _delete(run, path)


def prune(*, older_than: str | float | None = None, keep: int | None = None,
          path: PathLike = None) -> list[str]:
    """Delete finished runs older than ``older_than`` (``"30d"``… or seconds) or beyond the
    newest ``keep``; the ids deleted."""
    from .reader import prune as _prune

    age = None if older_than is None else _age(older_than)
    return _prune(older_than=age, keep=keep, path=path)


def _age(value: str | float) -> float:
    """Seconds of ``"30d"``, ``"12h"``, ``"90s"`` or a number."""
    from ..text.units import parse_duration

    if isinstance(value, str) and value.strip().endswith("d"):
        return float(value.strip()[:-1]) * 86400.0
    return parse_duration(value, "older_than")


def compare(a: object, b: object, path: PathLike = None, **options: Any) -> Comparison:
    """Compare two runs (Results, ids, prefixes or ``last``): see :mod:`.comparison`."""
    from .comparison import compare as _compare

    return _compare(a, b, path=path, **options)


class _CallableModule(types.ModuleType):
    """``loadnb.history(...)`` is :func:`history` although ``loadnb.history`` is this package."""

    def __call__(self, path: PathLike = None, *, limit: int | None = None,
                 target: str | None = None) -> pd.DataFrame:
        return history(path, limit=limit, target=target)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["HistoryWriter", "compare", "delete", "history", "load", "note", "open_writer",
           "prune", "tag"]
