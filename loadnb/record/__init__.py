"""One run's data, alive from its first moment: :class:`~loadnb.record.record.RunRecord`.

May import the engine side (:mod:`loadnb.spec`, :mod:`loadnb.rules`, :mod:`loadnb.metrics`,
:mod:`loadnb.text`); never a face, pandas or Bokeh.
"""
