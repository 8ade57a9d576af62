"""loadnb's own metrics pushed as OTLP/HTTP (protobuf) to an OpenTelemetry collector.

:class:`OtlpPusher` POSTs an ``ExportMetricsServiceRequest`` to ``URL`` (``/v1/metrics`` when the
URL has no path) after each :meth:`~loadnb.observe.feed.LoadMetrics.update`, so once per
interval, on its own task with its own session and a short timeout: a slow or failed push is a
warning (once per run of failures) and the next push carries the totals (cumulative temporality),
never a wait of the load. :meth:`OtlpPusher.aclose` sends the final state once more if it was not
sent. The metrics, with a ``run_id`` attribute on every point (their Prometheus names after a
collector's translation in brackets):

- ``loadnb.requests`` (monotonic sum, ``name``, ``result``) [``loadnb_requests_total``];
- ``loadnb.request.duration`` (histogram, s, ``name``) [``loadnb_request_duration_seconds``];
- ``loadnb.active_users``, ``loadnb.in_flight`` (gauges);
- ``loadnb.dropped_arrivals`` (monotonic sum) [``loadnb_dropped_arrivals_total``].

It needs ``opentelemetry-proto`` (``pip install 'loadnb[otlp]'``): :func:`require_proto` says so
with an ImportError when it is missing, before anything starts. Secrets in the URL
(``user:password@``, moved to an Authorization header) and in headers never appear in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .._version import __version__
from ..text.redact import redact_url, split_credentials
from .feed import LoadMetrics, LoadState
from .http import Failed, check_url, describe_error

if TYPE_CHECKING:
    import aiohttp
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

__all__ = ["CONTENT_TYPE", "INSTALL", "OtlpPusher", "encode", "otlp_url", "require_proto"]

CONTENT_TYPE = "application/x-protobuf"
INSTALL = "pip install 'loadnb[otlp]'"


def require_proto() -> None:
    """ImportError naming the pip command when ``opentelemetry-proto`` is not installed."""
    try:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2  # noqa: F401
    except ImportError:
        raise ImportError("--otlp needs the opentelemetry-proto package: " + INSTALL) from None


def otlp_url(url: object) -> str:
    """The URL pushed to: ``url`` (http or https with a host; ValueError if not), with
    ``/v1/metrics`` when it has no path."""
    checked = check_url(url, "OTLP URL")
    parts = urlsplit(checked)
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1/metrics")
    return urlunsplit(parts)


def _kv(key: str, value: str) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    return KeyValue(key=key, value=AnyValue(string_value=value))


def encode(state: LoadState, bounds: tuple[float, ...]) -> ExportMetricsServiceRequest:
    """The state as one OTLP ``ExportMetricsServiceRequest`` (cumulative temporality)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

    cumulative = pb.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    start, now = int(state.start_time * 1e9), int(state.time * 1e9)
    run = _kv("run_id", state.run_id)
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend([_kv("service.name", "loadnb"),
                                   _kv("service.version", __version__),
                                   _kv("loadnb.run_id", state.run_id)])
    sm = rm.scope_metrics.add()
    sm.scope.name, sm.scope.version = "loadnb", __version__

    requests = sm.metrics.add(name="loadnb.requests", unit="{request}",
                              description="Requests that ended, by name and result")
    requests.sum.aggregation_temporality, requests.sum.is_monotonic = cumulative, True
    duration = sm.metrics.add(name="loadnb.request.duration", unit="s",
                              description="Request latency, start to last body byte")
    duration.histogram.aggregation_temporality = cumulative
    for s in state.names:
        name = _kv("name", s.name)
        for result, n in (("ok", s.ok), ("failed", s.failed), ("cancelled", s.cancelled)):
            requests.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=now,
                                         as_int=n, attributes=[name, _kv("result", result), run])
        cum = (0, *s.buckets, s.count)
        per_bucket = [cum[i + 1] - cum[i] for i in range(len(cum) - 1)]
        duration.histogram.data_points.add(
            start_time_unix_nano=start, time_unix_nano=now, count=s.count, sum=s.sum_s,
            explicit_bounds=bounds, bucket_counts=per_bucket, attributes=[name, run])
    for metric, value in (("loadnb.active_users", state.active_users),
                          ("loadnb.in_flight", state.in_flight)):
        sm.metrics.add(name=metric, unit="1").gauge.data_points.add(
            time_unix_nano=now, as_int=value, attributes=[run])
    dropped = sm.metrics.add(name="loadnb.dropped_arrivals", unit="{arrival}")
    dropped.sum.aggregation_temporality, dropped.sum.is_monotonic = cumulative, True
    dropped.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=now,
                                as_int=state.dropped, attributes=[run])
    return req


class OtlpPusher:
    """Pushes ``metrics`` to ``url`` after each update (see the module's doc).

    ``headers`` go with every push (e.g. an API key; never shown); ``timeout`` bounds each push;
    ``warn`` is told each warning. ValueError for a bad URL or timeout, ImportError without
    ``opentelemetry-proto``: both at once, before anything starts.
    """

    def __init__(self, url: str, metrics: LoadMetrics, *, timeout: float = 2.0,
                 headers: Mapping[str, str] | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self._headers = dict(headers or {})
        self.url = split_credentials(otlp_url(url), self._headers)
        self.shown = redact_url(self.url)
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"OTLP timeout must be a positive number, got {timeout!r}")
        require_proto()
        self.metrics, self.timeout = metrics, float(timeout)
        self.pushes = 0  #: exports sent and accepted
        self.failures = 0  #: exports that failed
        self.warnings: list[str] = []
        self._warn = warn
        self._sent = 0  # the state version last pushed
        self._streak = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Start pushing after each update."""
        if self._task is not None:
            return
        import aiohttp  # imported when the pusher starts

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._unsubscribe = self.metrics.subscribe(lambda _: self._wake.set())
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="loadnb-otlp")

    async def aclose(self) -> None:
        """Push the final state if it was not pushed, then stop (at most ``timeout`` s)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None and self.metrics.current.version != self._sent:
            await self._push(self.metrics.current)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _loop(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            await self._push(self.metrics.current)

    async def _push(self, state: LoadState) -> None:
        """One export; never raises (but for cancellation)."""
        body = encode(state, self.metrics.bounds).SerializeToString()
        try:
            await self._post(body)  # bounded by the session's timeout
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a push must never end the task
            self.failures += 1
            self._streak += 1
            if self._streak == 1:
                self._say(f"OTLP push to {self.shown} failed: "
                          f"{describe_error(exc, self.timeout, self._headers.values())}")
            return
        self._sent = state.version
        self.pushes += 1
        if self._streak:
            self._say(f"OTLP push to {self.shown} works again after {self._streak} failed")
            self._streak = 0

    async def _post(self, body: bytes) -> None:
        session = self._session
        if session is None:
            raise Failed("the pusher is closed")
        headers = {**self._headers, "Content-Type": CONTENT_TYPE,
                   "User-Agent": f"loadnb/{__version__} (otlp)"}
        async with session.post(self.url, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status // 100 != 2:
                raise Failed(f"HTTP {resp.status}")

    def _say(self, text: str) -> None:
        self.warnings.append(text)
        if self._warn is not None:
            with contextlib.suppress(Exception):
                self._warn(text)
