"""The per-worker timeline of a run on Dask, stored by column: :class:`WorkersTimeline`.

One row per (interval, worker process) — a thousand workers make a thousand rows every 0.5 s,
two million in a 15-minute run. As Python tuples each row cost about 250 bytes (the tuple and
its seven number objects) and, scattered among each tick's short-lived objects, kept the
allocator's memory from ever going back; here a row is 45 bytes in a numpy chunk of
:data:`CHUNK_ROWS` rows, and chunks are only ever added (nothing is copied as it grows). It
reads as the list of tuples it replaces: ``len``, indexing and slicing, iteration (the same
Python values), and :meth:`WorkersTimeline.columns` for a frame.

>>> t = WorkersTimeline()
>>> t.extend([(0, 0.5, 40, 80.0, 2.0, 30.0, False), (1, 0.5, 7, 14.0, float("nan"), 9.5, True)])
>>> len(t), t[0], t[-1][-1]
(2, (0, 0.5, 40, 80.0, 2.0, 30.0, False), True)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

#: The columns (see :data:`~loadnb.record.record.WORKERS_TIMELINE_COLUMNS`) and how each is kept.
DTYPE = np.dtype([("worker", "<i4"), ("elapsed_time", "<f8"), ("requests", "<i8"),
                  ("rps", "<f8"), ("loop_lag_ms", "<f8"), ("cpu_percent", "<f8"),
                  ("lost", "?")])
#: Rows per chunk once the timeline has grown past its first chunks (about 740 KB).
CHUNK_ROWS = 16384
_FIRST_ROWS = 256
Row = tuple[Any, ...]


class WorkersTimeline(Sequence[Row]):
    """One row per (interval, worker): ``(worker, elapsed_time, requests, rps, loop_lag_ms,
    cpu_percent, lost)``, kept in numpy chunks (see the module docstring)."""

    __slots__ = ("_chunks", "_tail", "_used")

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        self._chunks: list[npt.NDArray[Any]] = []  # full ones
        self._tail: npt.NDArray[Any] = np.empty(0, DTYPE)
        self._used = 0  # rows of the tail in use
        self.extend(rows)

    def extend(self, rows: Iterable[Row]) -> None:
        """Add rows at the end."""
        rows = rows if isinstance(rows, list) else list(rows)
        new = np.empty(len(rows), DTYPE)
        for name, column in zip(DTYPE.names or (), zip(*rows, strict=True), strict=bool(rows)):
            new[name] = column  # by column: twice as fast as np.array(rows, DTYPE)
        while len(new):
            if self._used == len(self._tail):
                self._grow(len(new))
            take = min(len(new), len(self._tail) - self._used)
            self._tail[self._used:self._used + take] = new[:take]
            self._used += take
            new = new[take:]

    def _grow(self, want: int) -> None:
        """The tail is full: double it while it is small, else seal it and start a chunk."""
        size = len(self._tail)
        if size >= CHUNK_ROWS:
            self._chunks.append(self._tail)
            self._tail, self._used = np.empty(CHUNK_ROWS, DTYPE), 0
            return
        bigger = np.empty(min(CHUNK_ROWS, max(_FIRST_ROWS, 2 * size, want)), DTYPE)
        bigger[:size] = self._tail
        self._tail = bigger

    def __len__(self) -> int:
        return CHUNK_ROWS * len(self._chunks) + self._used

    def _parts(self) -> list[npt.NDArray[Any]]:
        return [*self._chunks, self._tail[:self._used]]

    def array(self) -> npt.NDArray[Any]:
        """Every row, as one structured array (a copy)."""
        return np.concatenate(self._parts()) if self._chunks else self._tail[:self._used].copy()

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Every row by column (copies): ``worker`` as int64, the others as kept."""
        rows = self.array()
        out = {name: rows[name] for name in DTYPE.names or ()}
        out["worker"] = out["worker"].astype(np.int64)
        return out

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1 and start >= len(self) - self._used:  # within the tail: the usual case
                base = len(self) - self._used
                return self._tail[start - base:max(start, stop) - base].tolist()  # type: ignore[no-any-return]
            return self.array()[index].tolist()  # type: ignore[no-any-return]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError("workers timeline index out of range")
        chunk, at = divmod(i, CHUNK_ROWS)
        part = self._chunks[chunk] if chunk < len(self._chunks) else self._tail
        return tuple(part[at].tolist())

    def __iter__(self) -> Iterator[Row]:
        for part in self._parts():
            yield from part.tolist()

    def __repr__(self) -> str:
        return f"<WorkersTimeline: {len(self)} rows>"

    @property
    def nbytes(self) -> int:
        """Bytes its chunks hold (allocated, the tail's unused rows included)."""
        return sum(part.nbytes for part in self._chunks) + self._tail.nbytes


__all__ = ["CHUNK_ROWS", "DTYPE", "WorkersTimeline"]
