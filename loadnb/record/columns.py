"""Rows kept by column, for the record's long timelines: :class:`ColumnRows`.

A timeline with a row per (interval, worker) or per (interval, request name) grows by thousands
of rows a minute at scale. As Python tuples each row costs 250-360 bytes (the tuple and its
number objects) and, scattered among each tick's short-lived objects, keeps the allocator's
memory from ever going back. Here the rows are a numpy structured array (a subclass's
:attr:`ColumnRows.DTYPE`) in chunks of :data:`CHUNK_ROWS` rows that are only ever added (nothing
is copied once a chunk is full); a text column (:attr:`ColumnRows.TEXT`: a request name) is kept
as an integer code into the timeline's own short list of the texts it has seen. The rows read as
the list of tuples they replace: ``len``, indexing and slicing, iteration (the same Python
values: ``int``, ``float``, ``bool``, ``str``), and :meth:`ColumnRows.columns` for a frame.

>>> class Pairs(ColumnRows):
...     DTYPE = np.dtype([("name", "<i4"), ("value", "<f8")])
...     TEXT = ("name",)
>>> p = Pairs([("GET /", 1.5), ("POST /", 2.0), ("GET /", 3.0)])
>>> len(p), p[0], p[-2:], p.nbytes
(3, ('GET /', 1.5), [('POST /', 2.0), ('GET /', 3.0)], 3072)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, overload

import numpy as np
import numpy.typing as npt

#: Rows per chunk once a timeline has grown past its first chunks (it starts at 256 rows and
#: doubles up to this).
CHUNK_ROWS = 16384
_FIRST_ROWS = 256
Row = tuple[Any, ...]


class ColumnRows(Sequence[Row]):
    """Rows of :attr:`DTYPE`'s columns, kept by column in numpy chunks (see the module
    docstring); the columns named in :attr:`TEXT` hold strings, kept as codes."""

    #: the columns and how each is kept (a text column as an integer code)
    DTYPE: ClassVar[np.dtype[Any]] = np.dtype([])
    #: the columns that hold strings
    TEXT: ClassVar[tuple[str, ...]] = ()

    __slots__ = ("_chunks", "_codes", "_tail", "_texts", "_used")

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        self._chunks: list[npt.NDArray[Any]] = []  # full ones
        self._tail: npt.NDArray[Any] = np.empty(0, self.DTYPE)
        self._used = 0  # rows of the tail in use
        self._texts: list[str] = []  # a text column's values, by code
        self._codes: dict[str, int] = {}
        self.extend(rows)

    def extend(self, rows: Iterable[Row]) -> None:
        """Add rows at the end (rows of the wrong length are refused before any is added)."""
        rows = rows if isinstance(rows, list) else list(rows)
        new = np.empty(len(rows), self.DTYPE)
        names = self.DTYPE.names or ()
        for name, column in zip(names, zip(*rows, strict=True), strict=bool(rows)):
            new[name] = self._encode(column) if name in self.TEXT else column  # by column: fast
        while len(new):
            if self._used == len(self._tail):
                self._grow(len(new))
            take = min(len(new), len(self._tail) - self._used)
            self._tail[self._used:self._used + take] = new[:take]
            self._used += take
            new = new[take:]

    def _encode(self, texts: Iterable[str]) -> list[int]:
        codes = self._codes
        out = []
        for text in texts:
            code = codes.get(text)
            if code is None:
                codes[text] = code = len(self._texts)
                self._texts.append(text)
            out.append(code)
        return out

    def _grow(self, want: int) -> None:
        """The tail is full: double it while it is small, else seal it and start a chunk."""
        size = len(self._tail)
        if size >= CHUNK_ROWS:
            self._chunks.append(self._tail)
            self._tail, self._used = np.empty(CHUNK_ROWS, self.DTYPE), 0
            return
        bigger = np.empty(min(CHUNK_ROWS, max(_FIRST_ROWS, 2 * size, want)),
                          self.DTYPE)
        bigger[:size] = self._tail
        self._tail = bigger

    def __len__(self) -> int:
        return sum(map(len, self._chunks)) + self._used

    def _parts(self) -> list[npt.NDArray[Any]]:
        return [*self._chunks, self._tail[:self._used]]

    def array(self) -> npt.NDArray[Any]:
        """Every row, as one structured array (a copy; text columns as their codes)."""
        return np.concatenate(self._parts()) if self._chunks else self._tail[:self._used].copy()

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Every row by column (copies): a text column as an array of ``str`` objects, the
        others as kept."""
        rows = self.array()
        return {name: self._texts_of(rows[name]) if name in self.TEXT else rows[name]
                for name in self.DTYPE.names or ()}

    def _texts_of(self, codes: npt.NDArray[Any]) -> npt.NDArray[Any]:
        texts = np.empty(len(self._texts), dtype=object)
        texts[:] = self._texts
        return texts[codes]  # type: ignore[no-any-return]

    def _rows(self, part: npt.NDArray[Any]) -> list[Row]:
        """``part``'s rows as tuples of Python values."""
        if not self.TEXT:
            return part.tolist()  # type: ignore[no-any-return]
        return list(zip(*(self._texts_of(part[name]).tolist() if name in self.TEXT
                          else part[name].tolist() for name in self.DTYPE.names or ()),
                        strict=True))

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            base = n - self._used
            if step == 1 and start >= base:  # within the tail: the usual case
                return self._rows(self._tail[start - base:max(start, stop) - base])
            return self._rows(self.array()[index])
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"{type(self).__name__} index out of range")
        chunk, at = divmod(i, len(self._chunks[0])) if self._chunks else (0, i)
        part = self._chunks[chunk] if chunk < len(self._chunks) else self._tail
        return self._rows(part[at:at + 1])[0]

    def __iter__(self) -> Iterator[Row]:
        for part in self._parts():
            yield from self._rows(part)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self)} rows>"

    @property
    def nbytes(self) -> int:
        """Bytes its chunks hold (allocated, the tail's unused rows included)."""
        return sum(part.nbytes for part in self._chunks) + self._tail.nbytes


__all__ = ["CHUNK_ROWS", "ColumnRows", "Row"]
