"""The run history: every run kept as it goes in SQLite (the seam; the store is being built).

:func:`open_writer` is what a :class:`~loadnb.run.Run` calls at its start: it returns a sink
(called with every snapshot, after the record has it) with a ``close()`` called once the run's
final state is known.
"""

from __future__ import annotations

from typing import Protocol

from ..record import RunRecord
from ..snapshot import Snapshot


class HistoryWriter(Protocol):
    """A sink that keeps one run: ``writer(snapshot)`` per interval, ``close()`` at the end."""

    def __call__(self, snap: Snapshot) -> None: ...

    def close(self) -> None: ...


def open_writer(record: RunRecord) -> HistoryWriter | None:
    """The writer of ``record``'s run (None while the store is not built)."""
    return None
