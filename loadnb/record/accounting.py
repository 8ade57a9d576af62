"""The accounting check of a run record: every request counted exactly once.

:func:`check_accounting` runs at the end of every run when ``LOADNB_DEBUG=1`` (the test suite
sets it) and in the tests; :class:`AccountingError` is what it raises.
"""

from __future__ import annotations

from typing import Protocol

from .record import RunRecord


class AccountingError(AssertionError):
    """The run's numbers do not add up (a bug in loadnb, never a fault of the target)."""


class _HasRecord(Protocol):
    @property
    def record(self) -> RunRecord: ...


def check_accounting(run: RunRecord | _HasRecord) -> None:
    """Raise :class:`AccountingError` unless every request of ``run`` (a record, or a result of
    one) is counted exactly once.

    Per request name and overall: started = completed + failed + cancelled, none negative (a
    request ended twice would show as a negative cancelled count); the interval counts
    of the snapshots sum to the totals; the last snapshot shows the totals.
    """
    record = run if isinstance(run, RunRecord) else run.record
    problems = []
    o = record.overall
    for name, t in record.totals.items():
        if t.cancelled < 0:  # settled as started - ended: negative means one counted twice
            problems.append(f"{name!r}: {-t.cancelled} more requests ended than started")
        if t.started != t.completed + t.failed + t.cancelled:
            problems.append(f"{name!r}: started {t.started} != completed {t.completed} + failed "
                            f"{t.failed} + cancelled {t.cancelled}")
    started = sum(t.started for t in record.totals.values())
    if started != o.completed + o.failed + o.cancelled:
        problems.append(f"overall: started {started} != {o.completed}+{o.failed}+{o.cancelled}")
    snaps = record.snapshots
    sums = (sum(s.interval_completed for s in snaps), sum(s.interval_failed for s in snaps),
            sum(s.interval_requests for s in snaps))
    if sums != (o.completed, o.failed, o.completed + o.failed + o.cancelled):
        problems.append(f"interval sums {sums} != totals {(o.completed, o.failed)}")
    if snaps and (snaps[-1].completed_requests, snaps[-1].failed_requests,
                  snaps[-1].cancelled_requests) != (o.completed, o.failed, o.cancelled):
        problems.append("the last snapshot does not show the totals")
    if problems:
        raise AccountingError("; ".join(problems))


__all__ = ["AccountingError", "check_accounting"]
