"""What to run: :class:`~loadnb.spec.config.LoadSpec` and ``make_spec`` (every face validates
through it, one ``ValueError`` per bad input, before anything is sent), the checks of single
parameters (:mod:`~loadnb.spec.validate`), the run's options beyond its load
(:mod:`~loadnb.spec.options`), load shapes over time (:mod:`~loadnb.spec.shape`) and scenarios
with their data (:mod:`~loadnb.spec.scenario`).

May import :mod:`loadnb.rules`, :mod:`loadnb.transport` (its options), :mod:`loadnb.metrics`
and :mod:`loadnb.text`.
"""

__all__: list[str] = []
