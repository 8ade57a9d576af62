"""Studies made of many runs: the capacity search (:mod:`~loadnb.studies.capacity`), the
closed-model sweep (:mod:`~loadnb.studies.sweep`), the Universal Scalability Law fit
(:mod:`~loadnb.studies.usl`) and their Bokeh charts (:mod:`~loadnb.studies.charts`).

May import :mod:`loadnb.runner` and everything below it; never a face.
"""

__all__: list[str] = []
