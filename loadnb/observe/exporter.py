"""loadnb's own metrics for Prometheus: ``http://127.0.0.1:PORT/metrics`` during a run.

:class:`MetricsServer` serves :func:`render` of a :class:`~loadnb.observe.feed.LoadMetrics`'s
current state (Prometheus text exposition 0.0.4), on 127.0.0.1 only, from an aiohttp server on the
run's loop: a scrape costs one cached string per tick. The series (each with a ``run_id`` label):

- ``loadnb_requests_total{name, result}`` (counter; ``result``: ``ok``, ``failed``, ``cancelled``
  — summed over results and names it is the summary's ``total_requests``);
- ``loadnb_request_duration_seconds{name}`` (histogram: ``_bucket{le}`` at the fixed bounds of
  :data:`~loadnb.observe.feed.BOUNDS`, ``_sum``, ``_count``);
- ``loadnb_active_users``, ``loadnb_in_flight`` (gauges), ``loadnb_dropped_arrivals_total``
  (counter).

The port is bound when the server is made, so a bad or busy port is a ValueError before anything
starts; after the run, :meth:`MetricsServer.aclose` keeps serving the final values for ``linger``
seconds (default 5) so the last scrape sees the totals. It is written by hand (no
``prometheus_client``): the histogram comes ready-made from loadnb's buckets, which the client's
``Histogram.observe`` cannot take, and a run's few series need no registry.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import math
import socket
from typing import TYPE_CHECKING

from .exposition import escape_label
from .feed import LoadMetrics, LoadState

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["CONTENT_TYPE", "DEFAULT_LINGER", "MetricsServer", "check_port", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_LINGER = 5.0
_HELP = {
    "loadnb_requests_total": "Requests that ended, by request name and result "
                             "(ok, failed, cancelled).",
    "loadnb_request_duration_seconds": "Request latency, start to last body byte, by request "
                                       "name (loadnb's 1 % buckets at fixed bounds).",
    "loadnb_active_users": "Virtual users running (closed model) or iterations in progress.",
    "loadnb_in_flight": "Requests sent and not yet answered.",
    "loadnb_dropped_arrivals_total": "Arrivals the open model could not start (max in flight).",
}


def _head(name: str, kind: str) -> str:
    return f"# HELP {name} {_HELP[name]}\n# TYPE {name} {kind}\n"


def _num(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(state: LoadState, bounds: tuple[float, ...]) -> str:
    """The state as Prometheus text exposition (0.0.4)."""
    run = f'run_id="{escape_label(state.run_id)}"'
    les = [repr(float(b)) for b in bounds] + ["+Inf"]
    out = [_head("loadnb_requests_total", "counter")]
    for s in state.names:
        lab = f'name="{escape_label(s.name)}"'
        for result, n in (("ok", s.ok), ("failed", s.failed), ("cancelled", s.cancelled)):
            out.append(f'loadnb_requests_total{{{lab},result="{result}",{run}}} {n}\n')
    name = "loadnb_request_duration_seconds"
    out.append(_head(name, "histogram"))
    for s in state.names:
        lab = f'name="{escape_label(s.name)}",{run}'
        for le, n in zip(les, (*s.buckets, s.count), strict=True):
            out.append(f'{name}_bucket{{le="{le}",{lab}}} {n}\n')
        out.append(f"{name}_sum{{{lab}}} {_num(s.sum_s)}\n{name}_count{{{lab}}} {s.count}\n")
    for metric, kind, value in (("loadnb_active_users", "gauge", state.active_users),
                                ("loadnb_in_flight", "gauge", state.in_flight),
                                ("loadnb_dropped_arrivals_total", "counter", state.dropped)):
        out.append(f"{_head(metric, kind)}{metric}{{{run}}} {value}\n")
    return "".join(out)


def check_port(port: object, host: str = "127.0.0.1") -> int:
    """``port`` if it is a fixed TCP port (1..65535) on a loopback ``host``; ValueError if not.
    (Whether it is free is known only by binding it: :class:`MetricsServer` does.)"""
    if isinstance(port, bool) or not isinstance(port, int):
        raise ValueError(f"metrics port must be an integer, got {port!r}")
    if port == 0:
        raise ValueError("metrics port must be a fixed port (1..65535) so Prometheus can find "
                         "it, not 0")
    if not 0 < port < 65536:
        raise ValueError(f"metrics port must be between 1 and 65535, got {port}")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the metrics server listens on loopback only (127.0.0.1 or ::1), "
                         f"not {host!r}")
    return port


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ValueError(f"metrics port {port} is busy on {host}: pick another") from None
        raise ValueError(f"cannot listen on {host}:{port} for metrics: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


class MetricsServer:
    """Serves ``metrics`` at ``http://HOST:PORT/metrics`` (see the module's doc).

    Made → the port is bound (ValueError when it is 0, busy, out of range or ``host`` is not
    loopback); :meth:`start` serves; :meth:`aclose` lingers then stops; :meth:`close` releases the
    port of a server never started.
    """

    def __init__(self, metrics: LoadMetrics, port: int, *, host: str = "127.0.0.1",
                 linger: float = DEFAULT_LINGER) -> None:
        check_port(port, host)
        if not (isinstance(linger, (int, float)) and math.isfinite(linger) and linger >= 0):
            raise ValueError(f"metrics linger must be a number of seconds >= 0, got {linger!r}")
        self.metrics, self.linger, self.host, self.port = metrics, float(linger), host, port
        self.scrapes = 0  #: GET /metrics answered
        self._sock: socket.socket | None = _bind(host, port)
        self._runner: web.AppRunner | None = None
        self._cache: tuple[int, bytes] = (-1, b"")

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def body(self) -> bytes:
        """The current exposition (rendered once per state)."""
        state = self.metrics.current
        if self._cache[0] != state.version:
            self._cache = (state.version, render(state, self.metrics.bounds).encode())
        return self._cache[1]

    async def _handle(self, request: web.Request) -> web.Response:
        self.scrapes += 1
        from aiohttp import web

        return web.Response(body=self.body(), headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> None:
        """Serve on the bound port (on the running loop)."""
        if self._sock is None or self._runner is not None:
            raise RuntimeError("the metrics server is closed or already started")
        from aiohttp import web  # imported when the exporter serves

        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        await web.SockSite(runner, self._sock).start()

    async def aclose(self, linger: float | None = None) -> None:
        """Serve the final values ``linger`` seconds more (default: the server's), then stop."""
        runner = self._runner
        try:
            wait = self.linger if linger is None else linger
            if runner is not None and wait > 0:
                await asyncio.sleep(wait)
        finally:  # cancelled while lingering: stop all the same
            if runner is not None and self._runner is runner:
                self._runner = None
                await runner.cleanup()
            self.close()

    def close(self) -> None:
        """Release the port (a server never started, or after :meth:`aclose`)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
