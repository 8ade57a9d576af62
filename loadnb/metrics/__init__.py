"""What is counted, and how it travels: the hot-path accumulators and their interval form.

- :mod:`~loadnb.metrics.histogram`: the log-bucket latency histogram (≤ 0.5 % error, exact
  merge, ``encode``/``decode``);
- :mod:`~loadnb.metrics.stats`: ``NameStats`` (the one recording path), ``IntervalStats``,
  ``Recorder`` (swap per tick);
- :mod:`~loadnb.metrics.custom`: the user's custom metrics;
- :mod:`~loadnb.metrics.snapshot`: ``Snapshot``, one row of a run's timeline;
- :mod:`~loadnb.metrics.codec`: the one codec: stats, custom metrics, histograms and payloads
  as plain data and back, exactly (the Dask payloads, the exports and the history use it).

May import :mod:`loadnb.text` only.
"""

__all__: list[str] = []
