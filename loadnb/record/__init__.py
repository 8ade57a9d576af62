"""One run's data, alive from its first moment: :class:`~loadnb.record.record.RunRecord`, and
its one rebuild from what was stored of it (:mod:`~loadnb.record.rebuild`: history, exports).

May import the engine side (:mod:`loadnb.spec`, :mod:`loadnb.rules`, :mod:`loadnb.metrics`,
:mod:`loadnb.text`); never a face, pandas or Bokeh.
"""

__all__: list[str] = []
