"""An OTLP/HTTP metrics receiver on 127.0.0.1 for tests (use as an async context manager).

``POST /v1/metrics`` with an ``application/x-protobuf`` body is decoded as an
``ExportMetricsServiceRequest`` (opentelemetry-proto) and kept in :attr:`OtlpReceiver.exports`
with its headers. :attr:`OtlpReceiver.mode` says how it answers: ``"ok"`` (200 with an empty
``ExportMetricsServiceResponse``), ``"fail"`` (500) or ``"hang"`` (no answer until it closes).
Helpers read a decoded export: :func:`points` (every number point by metric name) and
:func:`sum_of`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Export:
    """One export received: the decoded request and the HTTP headers it came with."""

    request: Any  # ExportMetricsServiceRequest
    headers: dict[str, str]


@dataclass
class OtlpReceiver:
    """See the module's doc. ``url`` is the base URL (``http://127.0.0.1:PORT/``)."""

    mode: str = "ok"
    exports: list[Export] = field(default_factory=list)
    posts: int = 0  #: POSTs received, whatever the mode
    url: str = ""
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def _handle(self, request: web.Request) -> web.Response:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc

        self.posts += 1
        body = await request.read()
        if self.mode == "hang":
            await self._closing.wait()
            return web.Response(status=503)
        if self.mode == "fail":
            return web.Response(status=500, text="receiver told to fail")
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415)
        decoded = svc.ExportMetricsServiceRequest()
        decoded.ParseFromString(body)
        self.exports.append(Export(decoded, dict(request.headers)))
        return web.Response(body=svc.ExportMetricsServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    async def __aenter__(self) -> OtlpReceiver:
        app = web.Application()
        app.router.add_post("/v1/metrics", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()


def points(export: Export) -> dict[str, list[Any]]:
    """Every data point of the export by metric name (sum, gauge and histogram points)."""
    out: dict[str, list[Any]] = {}
    for rm in export.request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                out.setdefault(metric.name, []).extend(getattr(metric, kind).data_points)
    return out


def attrs(point: Any) -> dict[str, str]:
    """A data point's attributes as a dict of strings."""
    return {kv.key: kv.value.string_value for kv in point.attributes}


def sum_of(export: Export, metric: str, **match: str) -> int:
    """The sum of ``as_int`` (or ``count`` for a histogram) over the metric's points whose
    attributes include ``match``."""
    total = 0
    for p in points(export).get(metric, []):
        if all(attrs(p).get(k) == v for k, v in match.items()):
            total += p.count if hasattr(p, "bucket_counts") else p.as_int
    return total
