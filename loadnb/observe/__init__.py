"""Observing the target and being observed: the server's metrics beside the load, loadnb's own
metrics for Prometheus and OpenTelemetry, and W3C trace context for requests.

Modules:

- :mod:`~loadnb.observe.exposition`: a parser of Prometheus text exposition and OpenMetrics into
  ``server.<metric>{labels}`` series (counter or gauge), the default series filter, and
  :class:`~loadnb.observe.exposition.Rates` (counters as per-second rates between two scrapes,
  reset-aware).
- :mod:`~loadnb.observe.scraper`: :class:`~loadnb.observe.scraper.Scraper` (scrapes URLs on its
  own task, session and timeout; failures are warnings and gaps).
- :mod:`~loadnb.observe.process`: :class:`~loadnb.observe.process.ProcessWatcher` (a local
  process with psutil: ``server.process.*{pid=…}``), the scraper's shape.
- :mod:`~loadnb.observe.feed`: :class:`~loadnb.observe.feed.LoadMetrics`, the plain-data state
  both exporters read (updated once per tick from cumulative per-name totals).
- :mod:`~loadnb.observe.exporter`: :class:`~loadnb.observe.exporter.MetricsServer`, loadnb's own
  metrics as Prometheus exposition on ``http://127.0.0.1:PORT/metrics``.
- :mod:`~loadnb.observe.otlp`: :class:`~loadnb.observe.otlp.OtlpPusher`, the same metrics pushed
  as OTLP/HTTP protobuf (needs ``pip install 'loadnb[otlp]'``).
- :mod:`~loadnb.observe.trace`: ``traceparent``/``tracestate`` headers
  (:class:`~loadnb.observe.trace.Tracer`) and the k slowest requests of an interval
  (:class:`~loadnb.observe.trace.Slowest`).
- :mod:`~loadnb.observe.http`: what the scraper and the pusher share (URL checks, error texts
  without secrets).

What it may import: the standard library, numpy, aiohttp, psutil, ``opentelemetry-proto`` (inside
:mod:`~loadnb.observe.otlp`'s functions only), and of loadnb only :mod:`loadnb.text.redact` and
:mod:`loadnb._version`. Nothing of the run, the record, the metrics or the faces: the run hands
it plain data (a histogram-like object, counts) and reads plain data back (``dict[str, float]``).
Importing it starts nothing; every task and server starts in an explicit ``start()``.
"""

from __future__ import annotations

__all__: list[str] = []
