"""The per-name timeline of a run, stored by column: :class:`NamesTimeline`.

One row per (interval, request name) that had requests — 64 names make 128 rows a second,
77,000 in a 10-minute run. As Python tuples each row cost about 356 bytes (the tuple and its
nine number objects); here a row is 76 bytes, the name an integer code into the timeline's list
of names, in the numpy chunks of a :class:`~loadnb.record.columns.ColumnRows`. It reads as the
list of tuples it replaces: ``len``, indexing and slicing, iteration (the same Python values:
the name a ``str``, the counts ``int``, the rest ``float``), and
:meth:`~loadnb.record.columns.ColumnRows.columns` for a frame.

>>> t = NamesTimeline([(0.5, "GET /", 40, 39, 1, 80.0, 2.0, 3.0, 5.0, 7.5)])
>>> t.extend([(1.0, "POST /", 3, 3, 0, 6.0, 1.0, 1.0, 1.0, 1.0)])
>>> len(t), t[-1][:3], t[0][1]
(2, (1.0, 'POST /', 3), 'GET /')
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .columns import ColumnRows

#: The columns (see :data:`~loadnb.record.record.NAMES_TIMELINE_COLUMNS`) and how each is kept:
#: ``name`` as a code into the timeline's names.
DTYPE = np.dtype([("elapsed_time", "<f8"), ("name", "<i4"), ("requests", "<i8"),
                  ("completed", "<i8"), ("failed", "<i8"), ("rps", "<f8"), ("p50_ms", "<f8"),
                  ("p90_ms", "<f8"), ("p99_ms", "<f8"), ("max_ms", "<f8")])


class NamesTimeline(ColumnRows):
    """One row per (interval, request name): ``(elapsed_time, name, requests, completed,
    failed, rps, p50_ms, p90_ms, p99_ms, max_ms)``, kept by column (see the module
    docstring)."""

    DTYPE: ClassVar[np.dtype[Any]] = DTYPE
    TEXT: ClassVar[tuple[str, ...]] = ("name",)
    __slots__ = ()


__all__ = ["DTYPE", "NamesTimeline"]
