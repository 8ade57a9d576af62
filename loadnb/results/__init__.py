"""What a run shows and keeps: :class:`~loadnb.results.result.Result` (a view of the record),
its pandas views (:mod:`~loadnb.results.frame`), exports (:mod:`~loadnb.results.export`), the
standalone HTML report (:mod:`~loadnb.results.report`), the CI outputs
(:mod:`~loadnb.results.outputs`: JUnit XML, Markdown) and what a run says in words
(:mod:`~loadnb.results.words`: the one live line every face renders, the done line, the load in
words, each state's icon, label and colour).

May import :mod:`loadnb.record` and everything below it, and :mod:`loadnb.charts`; pandas,
pyarrow and Bokeh only inside functions.
"""

__all__: list[str] = []
