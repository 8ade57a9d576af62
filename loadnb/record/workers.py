"""The per-worker timeline of a run on Dask, stored by column: :class:`WorkersTimeline`.

One row per (interval, worker process) — a thousand workers make a thousand rows every 0.5 s,
two million in a 15-minute run. As Python tuples each row cost about 250 bytes (the tuple and
its seven number objects); here a row is 45 bytes, in the numpy chunks of a
:class:`~loadnb.record.columns.ColumnRows`. It reads as the list of tuples it replaces:
``len``, indexing and slicing, iteration (the same Python values), and
:meth:`WorkersTimeline.columns` for a frame.

>>> t = WorkersTimeline()
>>> t.extend([(0, 0.5, 40, 80.0, 2.0, 30.0, False), (1, 0.5, 7, 14.0, float("nan"), 9.5, True)])
>>> len(t), t[0], t[-1][-1]
(2, (0, 0.5, 40, 80.0, 2.0, 30.0, False), True)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .columns import ColumnRows

#: The columns (see :data:`~loadnb.record.record.WORKERS_TIMELINE_COLUMNS`) and how each is kept.
DTYPE = np.dtype([("worker", "<i4"), ("elapsed_time", "<f8"), ("requests", "<i8"),
                  ("rps", "<f8"), ("loop_lag_ms", "<f8"), ("cpu_percent", "<f8"),
                  ("lost", "?")])


class WorkersTimeline(ColumnRows):
    """One row per (interval, worker): ``(worker, elapsed_time, requests, rps, loop_lag_ms,
    cpu_percent, lost)``, kept by column (see the module docstring)."""

    DTYPE: ClassVar[np.dtype[Any]] = DTYPE
    __slots__ = ()

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Every row by column (copies): ``worker`` as int64, the others as kept."""
        out = super().columns()
        out["worker"] = out["worker"].astype(np.int64)
        return out


__all__ = ["DTYPE", "WorkersTimeline"]
