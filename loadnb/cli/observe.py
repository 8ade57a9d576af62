"""``loadnb run``'s observe options: the target's metrics beside the load (``--scrape``,
``--scrape-match``, ``--watch-pid``), loadnb's own metrics (``--metrics-port``,
``--metrics-linger``, ``--otlp``, ``--otlp-header``) and trace context (``--trace``,
``--trace-url``). Checked by :func:`loadnb.spec.config.make_spec` like every other option.
"""

from __future__ import annotations

import argparse
from typing import Any

from .args import _number

__all__ = ["add_observe_options", "observe_kwargs"]


def add_observe_options(r: argparse.ArgumentParser) -> None:
    """Add the observe group to ``loadnb run``'s parser."""
    obs = r.add_argument_group("observing the target, exporting loadnb's metrics")
    obs.add_argument("--scrape", action="append", default=[], metavar="URL",
                     help="read this Prometheus /metrics URL once per interval into server.* "
                          "columns (repeat for several)")
    obs.add_argument("--scrape-match", metavar="REGEX",
                     help="keep the scraped series whose metric{labels} this matches (default: "
                          "every counter, process CPU, memory, open fds, GC)")
    obs.add_argument("--watch-pid", metavar="PID",
                     help="sample this local process (CPU, RSS, threads, open files)")
    obs.add_argument("--metrics-port", metavar="PORT",
                     help="serve loadnb's metrics at http://127.0.0.1:PORT/metrics during the run")
    obs.add_argument("--metrics-linger", default="5s", metavar="DURATION",
                     help="keep serving the final values this long after the run (default 5s)")
    obs.add_argument("--otlp", metavar="URL",
                     help="push loadnb's metrics as OTLP/HTTP protobuf to URL every interval "
                          "(/v1/metrics when URL has no path)")
    obs.add_argument("--otlp-header", action="append", default=[], metavar="'K: V'",
                     help="a header of every OTLP push, e.g. an API key (repeat; never shown)")
    obs.add_argument("--trace", action="store_true",
                     help="send a W3C traceparent (a trace per iteration) and tracestate")
    obs.add_argument("--trace-url", metavar="TEMPLATE",
                     help="link the report's slowest requests to "
                          "TEMPLATE, e.g. 'http://tracing.example/trace/{trace_id}'")


def observe_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`~loadnb.spec.config.make_spec` keywords of the observe options."""
    return {"scrape": list(args.scrape) or None, "scrape_match": args.scrape_match,
            "watch_pid": _number(args.watch_pid, "watch_pid"),
            "metrics_port": _number(args.metrics_port, "metrics_port"),
            "metrics_linger": args.metrics_linger, "otlp": args.otlp,
            "otlp_headers": list(args.otlp_header) or None, "trace": args.trace,
            "trace_url": args.trace_url}
