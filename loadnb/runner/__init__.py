"""Running a test: :class:`~loadnb.runner.run.Run` (the composition root and its state machine,
``run``/``arun``), the monitor that turns the sources' intervals into snapshots
(:mod:`~loadnb.runner.monitor`) and the threshold judge (:mod:`~loadnb.runner.judge`).

May import everything below it (:mod:`loadnb.history`, :mod:`loadnb.distributed` — the latter
only when a run asks for workers — :mod:`loadnb.results`, :mod:`loadnb.record`,
:mod:`loadnb.engine`, …); never a face.
"""

__all__: list[str] = []
