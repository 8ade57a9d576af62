"""What a LoadTest shows of its latest run: ``result``, ``df``, ``stats``, ``errors``,
``errors_timeline``, ``summary`` (live during the run, final after it; before the first run, an
empty result in state ``idle``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..record.record import RunRecord
from ..record.state import RunState
from ..record.summary import Summary
from ..results.result import Result
from ..spec.config import LoadSpec
from .controls import Controls

if TYPE_CHECKING:
    import pandas as pd


class LatestResults:
    """The latest run's views, for :class:`~loadnb.ui.loadtest.LoadTest` (a mixin: it reads the
    widget's ``results``, ``controls`` and the spec it was made with)."""

    results: list[Result]
    controls: Controls
    _spec0: LoadSpec

    @property
    def result(self) -> Result | None:
        """The latest run's :class:`~loadnb.results.result.Result` (filled in as the run goes)."""
        return self.results[-1] if self.results else None

    @property
    def df(self) -> pd.DataFrame:
        """Snapshots of the latest run: live during the run, complete after it."""
        return self._latest().df

    @property
    def stats(self) -> pd.DataFrame:
        """Per request name statistics of the latest run (complete once it has ended)."""
        return self._latest().stats

    @property
    def errors(self) -> pd.DataFrame:
        """Errors of the latest run by name and kind, with a sample message."""
        return self._latest().errors

    @property
    def errors_timeline(self) -> pd.DataFrame:
        """Failures per interval by kind (long format) of the latest run."""
        return self._latest().errors_timeline

    @property
    def summary(self) -> Summary:
        """The latest run's summary (what ``loadnb run --json`` prints)."""
        return self._latest().summary

    def _latest(self) -> Result:
        """The latest run's result; before any run, an empty one (state ``idle``): empty frames
        with their columns, a summary of zeros."""
        if not self.results:
            try:
                spec = self.controls.spec()
            except ValueError:  # the controls hold a bad value: the spec the test was made with
                spec = self._spec0
            return Result(RunRecord("", spec, state=RunState.IDLE))
        return self.results[-1]


__all__ = ["LatestResults"]
