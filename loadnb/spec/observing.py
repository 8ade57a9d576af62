"""The observe options of a run, checked before anything is sent: what is scraped or watched
beside the load (``scrape``, ``scrape_match``, ``watch_pid``), where loadnb's own metrics go
(``metrics_port``, ``metrics_linger``, ``otlp``, ``otlp_headers``) and the trace context of its
requests (``trace``, ``trace_url``). See :mod:`loadnb.observe` for what each one does.
"""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..observe.exporter import DEFAULT_LINGER, check_port
from ..observe.http import check_url
from ..observe.otlp import otlp_url, require_proto
from ..text.redact import redact_headers, redact_url

__all__ = ["ObserveOptions", "check_observe"]


@dataclass(frozen=True, slots=True)
class ObserveOptions:
    """The observe options of a :class:`~loadnb.spec.config.LoadSpec` (all off by default)."""

    scrape: tuple[str, ...] = ()
    scrape_match: str | None = None
    watch_pid: int | None = None
    metrics_port: int | None = None
    metrics_linger: float = DEFAULT_LINGER
    otlp: str | None = None
    otlp_headers: Mapping[str, str] = field(default_factory=dict)
    trace: bool = False
    trace_url: str | None = None
    #: the run's id, set by the run when it starts (``tracestate: loadnb=<run id>``)
    run_id: str = ""

    @property
    def any(self) -> bool:
        """Whether anything is observed or exported."""
        return bool(self.scrape or self.watch_pid or self.metrics_port or self.otlp)

    def as_kwargs(self) -> dict[str, Any]:
        """The :func:`~loadnb.spec.config.make_spec` keywords that make these options again."""
        return {"scrape": list(self.scrape), "scrape_match": self.scrape_match,
                "watch_pid": self.watch_pid, "metrics_port": self.metrics_port,
                "metrics_linger": self.metrics_linger, "otlp": self.otlp,
                "otlp_headers": dict(self.otlp_headers), "trace": self.trace,
                "trace_url": self.trace_url}

    def public(self) -> dict[str, Any]:
        """The options as they may be shown or stored (URLs and headers redacted)."""
        return {"scrape": [redact_url(u) for u in self.scrape], "scrape_match": self.scrape_match,
                "watch_pid": self.watch_pid, "metrics_port": self.metrics_port,
                "metrics_linger": self.metrics_linger,
                "otlp": None if self.otlp is None else redact_url(self.otlp),
                "otlp_headers": redact_headers(self.otlp_headers), "trace": self.trace,
                "trace_url": self.trace_url}


def check_observe(scrape: object = None, scrape_match: object = None, watch_pid: object = None,
                  metrics_port: object = None, metrics_linger: object = DEFAULT_LINGER,
                  otlp: object = None, otlp_headers: object = None, trace: object = False,
                  trace_url: object = None, transport: object = "auto") -> ObserveOptions:
    """The checked options; one clear ``ValueError`` for the first bad one (``transport``: the
    run's, which must send per-request headers for ``trace``; an HTTP/2 URL run cannot either:
    :func:`~loadnb.spec.options.check_protocol`)."""
    if trace and transport == "fast":
        raise ValueError("trace needs per-request headers: use transport 'aiohttp' or 'auto'")
    return ObserveOptions(
        scrape=_scrape_urls(scrape), scrape_match=_match(scrape_match),
        watch_pid=_pid(watch_pid), metrics_port=_port(metrics_port),
        metrics_linger=_linger(metrics_linger),
        otlp=_otlp(otlp), otlp_headers=_headers(otlp_headers),
        trace=bool(trace), trace_url=_trace_url(trace_url))


def _scrape_urls(scrape: object) -> tuple[str, ...]:
    if scrape is None:
        return ()
    items = [scrape] if isinstance(scrape, str) else scrape
    if not isinstance(items, Sequence) or isinstance(items, bytes):
        raise ValueError(f"scrape must be a URL or a list of URLs, got {type(scrape).__name__}")
    return tuple(dict.fromkeys(check_url(u, "scrape URL") for u in items))


def _match(match: object) -> str | None:
    if match is None:
        return None
    if not isinstance(match, str) or not match:
        raise ValueError(f"scrape_match must be a regular expression, got {match!r}")
    try:
        re.compile(match)
    except re.error as exc:
        raise ValueError(f"scrape_match {match!r} is not a regular expression: {exc}") from None
    return match


def _pid(pid: object) -> int | None:
    if pid is None:
        return None
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise ValueError(f"watch_pid must be a positive integer, got {pid!r}")
    import psutil

    if not psutil.pid_exists(pid):
        raise ValueError(f"watch_pid: no process {pid}")
    return pid


def _port(port: object) -> int | None:
    """A fixed loopback port that is free now (the run binds it again when it starts)."""
    if port is None:
        return None
    checked = check_port(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", checked))
        except OSError:
            raise ValueError(f"metrics port {checked} is busy on 127.0.0.1: pick another") \
                from None
    return checked


def _linger(linger: object) -> float:
    from ..text.units import parse_duration

    value = parse_duration(linger, "metrics_linger")  # type: ignore[arg-type]
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"metrics_linger must be a time >= 0, got {linger!r}")
    return value


def _otlp(url: object) -> str | None:
    """An OTLP URL (``/v1/metrics`` added when it has no path), and the package it needs."""
    if url is None:
        return None
    checked = otlp_url(url)
    try:
        require_proto()
    except ImportError as exc:  # one line before anything starts, like every bad option
        raise ValueError(str(exc)) from None
    return checked


def _headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if isinstance(headers, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        return dict(headers)
    if isinstance(headers, Sequence) and not isinstance(headers, str):
        out = {}
        for line in headers:
            name, sep, value = str(line).partition(":")
            if not sep or not name.strip():
                raise ValueError(f"invalid OTLP header {redact_headers({'h': str(line)})['h']!r}"
                                 ": expected 'Name: value'")
            out[name.strip()] = value.strip()
        return out
    raise ValueError("otlp_headers must be a dict of text or 'Name: value' lines")


def _trace_url(template: object) -> str | None:
    if template is None:
        return None
    if not isinstance(template, str) or "{trace_id}" not in template:
        raise ValueError(f"trace_url must be a URL template with {{trace_id}}, e.g. "
                         f"'http://tracing.example/trace/{{trace_id}}', got {template!r}")
    check_url(template.replace("{trace_id}", "0"), "trace_url")
    return template
