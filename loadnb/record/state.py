"""The one vocabulary of a run's state, for the run, its record, the history and every face.

``idle → running → stopping → done | stopped | failed``; ``interrupted`` is what the history calls
a run whose process died before it ended. A :class:`RunState` is a ``str`` (``RunState.DONE ==
"done"``), so summaries, exports and history rows hold the plain word.

The snapshot's ``phase`` (:data:`loadnb.metrics.payload.PHASES`) is another thing: where the
*load* is (``running``, ``ending`` in the grace period, ``done``), not the run.
"""

from __future__ import annotations

import enum


class RunState(str, enum.Enum):
    """A run's state (see the module docstring)."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:  # a notebook shows 'running', as it did when states were strings
        return repr(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def ended(self) -> bool:
        """Whether the run is over (done, stopped, failed or interrupted)."""
        return self in _ENDED


_ENDED = frozenset({RunState.DONE, RunState.STOPPED, RunState.FAILED, RunState.INTERRUPTED})

__all__ = ["RunState"]
