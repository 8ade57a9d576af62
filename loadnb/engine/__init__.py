"""The load generator in one process: the closed and open models
(:mod:`~loadnb.engine.generator`), what an iteration is (:mod:`~loadnb.engine.work`), the
scenario's virtual user and its cookies (:mod:`~loadnb.engine.vuser`,
:mod:`~loadnb.engine.cookies`), precise sleeps (:mod:`~loadnb.engine.timer`), the source the
monitor reads (:mod:`~loadnb.engine.source`) and the backend that runs it all
(:mod:`~loadnb.engine.backend`).

May import :mod:`loadnb.spec`, :mod:`loadnb.rules`, :mod:`loadnb.transport`,
:mod:`loadnb.metrics` and :mod:`loadnb.text`; never pandas, widgets, Bokeh or Dask.
"""

__all__: list[str] = []
