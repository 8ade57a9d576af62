"""LoadSpec: what to run, validated before anything starts.

Every face (Python API, widget, CLI) builds a :class:`LoadSpec` through :func:`make_spec`, so bad
input gets the same one-line :class:`ValueError` everywhere, before a socket is opened. The checks
of single parameters live in :mod:`loadnb.spec.validate`, the handling of secrets in
:mod:`loadnb.text.redact`; this module combines them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..rules.alert_engine import AlertRule, as_rules
from ..rules.thresholds import Threshold, parse_thresholds
from ..text.jsonsafe import json_safe
from ..text.redact import redact_headers, redact_url
from ..text.units import parse_duration
from ..transport.base import TransportOptions
from .observing import ObserveOptions, check_observe
from .options import (
    DEFAULT_STREAMS,
    check_cluster,
    check_connection,
    check_history,
    check_notify,
    check_protocol,
    check_workers,
    shown_cluster,
    shown_hook,
)
from .scenario import Scenario, split_url_or_scenario, target_fields
from .shape import LoadShape, ShapeFn
from .validate import (
    Plan,
    check_body,
    check_headers,
    check_interval,
    check_limits,
    check_method,
    check_plan,
    check_status,
    check_timing,
    check_transport,
    positive_duration,
    positive_float,
    positive_int,
)

DEFAULT_USERS = 10
DEFAULT_DURATION = 10.0
DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 0.5
DEFAULT_GRACEFUL_STOP = 5.0
DEFAULT_MAX_IN_FLIGHT = 1000


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """A validated description of one load test. Build it with :func:`make_spec`.

    Closed model when ``rate`` is None (``users`` virtual users, each sending its next request when
    the last one ends); open model when ``rate`` is set (arrivals per second on a fixed schedule,
    at most ``max_in_flight`` at once, arrivals beyond that counted as dropped).

    ``users`` and ``rate`` are exclusive (closed vs open model). With neither ``duration`` nor
    ``requests`` the run lasts 10 s; with both, it ends at whichever comes first.
    ``think_time``: a user's pause after each iteration, a time or a ``(min, max)`` range drawn
    uniformly each time (Locust's ``between``); ``pacing``: instead, start a user's iterations
    every ``pacing`` seconds (Locust's ``constant_pacing``; no pause when one takes longer).
    ``expected_interval`` (closed model only) turns on coordinated-omission correction: a response
    slower than the interval a user is expected to keep also records the requests that user would
    have sent meanwhile (HdrHistogram's ``record_corrected_value``), in ``latency`` only;
    ``alerts``: the alert rules (:class:`~loadnb.rules.alert_engine.AlertRule` or callables
    ``(Snapshot) -> str | None``) judged on every snapshot; None means the defaults
    (:func:`~loadnb.rules.alerts.default_rules`), ``[]`` none; ``history``: where the run is kept
    as it goes (a SQLite file path; None or True: ``LOADNB_HISTORY`` or the per-user default;
    False or ``"off"``: not kept); ``thresholds``: pass/fail expressions judged on the whole run
    (:mod:`loadnb.rules.thresholds`, e.g. ``["p95<300ms", "errors<1%"]``); ``abort_on_fail``: stop
    the run once a threshold is lost for good, or has failed for three intervals in a row after
    ``abort_grace``; ``notify``: webhook URLs that get every alert fire and clear as a JSON POST,
    or callables ``(event, "fired" | "cleared")``; ``workers``: generate the load in a Dask
    ``LocalCluster`` of that many worker processes (``"auto"``: one per core); ``cluster``: in an
    existing Dask cluster (``"tcp://host:port"``, a ``distributed.Client``, a cluster object, or
    ``loadnb.cluster(workers=N)`` kept across runs), not both;
    ``service`` stays the raw time from the send. ``transport``: ``"fast"`` (keep-alive HTTP/1.1
    on asyncio protocols, llhttp parser), ``"aiohttp"`` (full HTTP features), or ``"auto"``: fast
    whenever it can run the test (no redirects to follow, not HEAD).
    ``http2``: URL tests over HTTP/2 (h2 by ALPN, HTTP/1.1 with a warning if not offered; h2c
    over http), ``connections`` (default: as the users need, at most 64) x ``streams`` (default
    10). TLS and connection controls: ``insecure``, ``cacert`` (a CA file), ``cert``/``key`` (a
    client certificate), ``keepalive=False``, ``connect_to`` (curl's ``HOST:PORT:ADDR:PORT``).
    ``observe``: the target watched, loadnb's metrics exported, trace context (the ``scrape=``,
    ``watch_pid=``, ``otlp=``, ``trace=`` … keywords: :mod:`loadnb.spec.observing`).
    """

    url: str
    users: int = DEFAULT_USERS
    rate: float | None = None
    duration: float | None = DEFAULT_DURATION
    requests: int | None = None
    ramp_up: float = 0.0
    think_time: float = 0.0
    think_time_max: float | None = None
    pacing: float | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    connections: int | None = None
    keepalive: bool = True
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect_status: tuple[int, ...] | None = None
    insecure: bool = False
    follow_redirects: bool = False
    interval: float = DEFAULT_INTERVAL
    graceful_stop: float = DEFAULT_GRACEFUL_STOP
    name: str | None = None
    expected_interval: float | None = None
    transport: str = "auto"
    scenario: Scenario | None = None
    data_rows: tuple[Any, ...] | None = None
    data_mode: str = "cycle"
    stages: tuple[tuple[float, float], ...] | None = None
    shape_fn: ShapeFn | None = None
    seed: int | None = None
    alerts: tuple[AlertRule, ...] | None = None
    history: str | None = None
    thresholds: tuple[Threshold, ...] = ()
    abort_on_fail: bool = False
    abort_grace: float = 0.0
    notify: tuple[str | Callable[..., Any], ...] = ()
    workers: int | str | None = None
    cluster: Any = None
    http2: bool = False
    streams: int | None = None
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    connect_to: tuple[str, ...] = ()
    observe: ObserveOptions = field(default_factory=ObserveOptions)

    def load_shape(self) -> LoadShape:
        """The target load over time: users (closed model) or arrivals/s (open model)."""
        if self.stages is not None:
            return LoadShape.from_stages(self.stages)
        if self.shape_fn is not None:
            return LoadShape(fn=self.shape_fn, duration=self.duration)
        value = float(self.users) if self.rate is None else self.rate
        return LoadShape.constant(value, self.ramp_up, self.duration)

    @property
    def model(self) -> str:
        """``"open"`` (arrival rate) or ``"closed"`` (virtual users)."""
        return "closed" if self.rate is None else "open"

    @property
    def request_name(self) -> str:
        """The name requests are grouped under: ``name`` or ``"METHOD /path"``."""
        return self.name or f"{self.method} {urlsplit(self.url).path or '/'}"

    @property
    def target(self) -> str:
        """What the run loads: the URL, or the scenario's tasks and base URL."""
        if self.scenario is None:
            return redact_url(self.url)
        tasks = ", ".join(self.scenario.names)
        return f"scenario {tasks}" + (f" on {redact_url(self.url)}" if self.url else "")

    @property
    def pool_size(self) -> int:
        """Connections in the keep-alive pool: ``connections``, else one per concurrent request
        (HTTP/2: one per ``streams`` concurrent requests, at most the transport's cap)."""
        if self.connections is not None:
            return self.connections
        concurrency = self.users if self.rate is None else self.max_in_flight
        if self.http2:
            from ..transport.h2 import MAX_CONNECTIONS

            return min(MAX_CONNECTIONS, -(-concurrency // (self.streams or DEFAULT_STREAMS)))
        return concurrency

    @property
    def pool_limit(self) -> int | None:
        """The cap the transports put on their pool: ``connections``, or None when the load
        itself bounds the concurrency (a user has one request in flight; arrivals stop at
        ``max_in_flight``), so raising the users or rate live needs no bigger pool."""
        return self.connections

    def transport_options(self) -> TransportOptions:
        """What the transport needs of this spec (and nothing more)."""
        return TransportOptions(
            url=self.url, method=self.method, headers=dict(self.headers), body=self.body,
            timeout=self.timeout, keepalive=self.keepalive, insecure=self.insecure,
            follow_redirects=self.follow_redirects, pool_limit=self.pool_limit,
            kind="aiohttp" if self.observe.trace and self.transport == "auto" else self.transport,
            plain=self.scenario is None, http2=self.http2,
            streams=self.streams or DEFAULT_STREAMS, cacert=self.cacert, cert=self.cert,
            key=self.key, connect_to=self.connect_to)

    def is_success(self, status: int) -> bool:
        """Whether a response status counts as completed rather than failed."""
        if self.expect_status is not None:
            return status in self.expect_status
        return status < 400

    def public_params(self) -> dict[str, Any]:
        """Parameters safe to print or store: secrets redacted, the body summarised; plain JSON
        values (lists, not tuples), so a run loaded back has the same ones."""
        params: dict[str, Any] = json_safe({
            "url": redact_url(self.url), "model": self.model,
            "users": self.users if self.rate is None else None,
            "rate": self.rate, "duration": self.duration, "requests": self.requests,
            "ramp_up": self.ramp_up, "think_time": (self.think_time if self.think_time_max is None
                           else [self.think_time, self.think_time_max]),
            "pacing": self.pacing, "timeout": self.timeout,
            "max_in_flight": self.max_in_flight, "connections": self.pool_size,
            "keepalive": self.keepalive, "method": self.method,
            "headers": redact_headers(self.headers),
            "body_bytes": 0 if self.body is None else len(self.body),
            "expect_status": list(self.expect_status) if self.expect_status else None,
            "insecure": self.insecure, "follow_redirects": self.follow_redirects,
            "interval": self.interval, "graceful_stop": self.graceful_stop,
            "expected_interval": self.expected_interval, "transport": self.transport,
            "scenario": list(self.scenario.names) if self.scenario else None,
            "scenario_weights": list(self.scenario.weights) if self.scenario else None,
            "data_rows": None if self.data_rows is None else len(self.data_rows),
            "data_mode": self.data_mode, "stages": self.stages,
            "shape": getattr(self.shape_fn, "__name__", "shape") if self.shape_fn else None,
            "seed": self.seed,
            "alerts": None if self.alerts is None else [r.name for r in self.alerts],
            "history": self.history,
            "thresholds": [t.expr for t in self.thresholds],
            "abort_on_fail": self.abort_on_fail, "abort_grace": self.abort_grace,
            "notify": [shown_hook(n) for n in self.notify],
            "workers": self.workers, "cluster": shown_cluster(self.cluster),
            "http2": self.http2, "streams": self.streams, "cacert": self.cacert,
            "cert": self.cert, "key": self.key, "connect_to": list(self.connect_to),
            **({"observe": self.observe.public()} if self.observe != ObserveOptions() else {}),
        })
        return params

    def replace(self, **changes: Any) -> LoadSpec:
        """A copy with ``changes`` applied and validated again."""
        return make_spec(**{**_spec_kwargs(self), **changes})


def _spec_kwargs(spec: LoadSpec) -> dict[str, Any]:
    """The :func:`make_spec` arguments that make ``spec`` again (fields named as parameters)."""
    kw = {f: getattr(spec, f) for f in LoadSpec.__dataclass_fields__}
    opens = kw["rate"] is not None
    if opens:
        kw["users"] = None
    kw["url"] = kw["url"] or None  # a scenario without a base URL
    kw["data"] = kw.pop("data_rows")
    kw.update(kw.pop("observe").as_kwargs())
    high = kw.pop("think_time_max")
    if high is not None:
        kw["think_time"] = (kw["think_time"], high)
    stages, shape = kw.pop("stages"), kw.pop("shape_fn")
    if stages is not None:  # the stages set the load and the duration
        kw["rate_stages" if opens else "stages"] = stages
        kw["users"] = kw["rate"] = kw["duration"] = None
    if shape is not None:  # a closed-model shape sets the users (an open one keeps the rate)
        kw["rate_shape" if opens else "shape"] = shape
        kw["users"] = None
    return kw


def make_spec(  # noqa: PLR0913 - every keyword of the public API, checked once
    url: str | None = None, *, users: int | None = None, rate: float | None = None,
    duration: str | float | None = None, requests: int | None = None, ramp_up: str | float = 0.0,
    think_time: str | float | Sequence[str | float] = 0.0, pacing: str | float | None = None,
    timeout: str | float = DEFAULT_TIMEOUT, max_in_flight: int | None = None,
    connections: int | None = None, keepalive: bool = True, method: str = "GET",
    headers: Mapping[str, str] | Sequence[str] | None = None, body: str | bytes | None = None,
    expect_status: int | Sequence[int] | None = None, insecure: bool = False,
    follow_redirects: bool = False, interval: str | float = DEFAULT_INTERVAL,
    graceful_stop: str | float = DEFAULT_GRACEFUL_STOP, name: str | None = None,
    expected_interval: str | float | None = None, transport: str = "auto", scenario: object = None,
    data: object = None, data_mode: str = "cycle",
    stages: Sequence[tuple[str | float, float]] | None = None,
    rate_stages: Sequence[tuple[str | float, float]] | None = None, shape: ShapeFn | None = None,
    rate_shape: ShapeFn | None = None, seed: int | None = None,
    alerts: Sequence[object] | None = None, history: str | os.PathLike[str] | bool | None = None,
    thresholds: Sequence[str] | str | None = None, abort_on_fail: bool = False,
    abort_grace: str | float = 0.0, notify: Sequence[str | Callable[..., Any]] | str | None = None,
    workers: int | str | None = None, cluster: object = None, http2: bool = False,
    streams: int | None = None, cacert: str | os.PathLike[str] | None = None,
    cert: str | os.PathLike[str] | None = None, key: str | os.PathLike[str] | None = None,
    connect_to: Sequence[str] | str = (), scrape: object = None,
    scrape_match: str | None = None, watch_pid: int | None = None, metrics_port: int | None = None,
    metrics_linger: str | float = 5.0, otlp: str | None = None, otlp_headers: object = None,
    trace: bool = False, trace_url: str | None = None) -> LoadSpec:
    """Validate the parameters of a load test; raise one clear ``ValueError`` for bad input.

    Each keyword is a field of :class:`LoadSpec` (its docstring says what each means); ``data``
    and ``data_mode`` become ``data_rows``, ``shape`` / ``stages`` the ``shape_fn``.

    >>> make_spec("http://127.0.0.1:8000/", rate=200, duration="30s").model
    'open'
    """
    plan = check_plan(users, rate, duration, ramp_up, stages, rate_stages, shape, rate_shape)
    checked_headers = check_headers(headers)
    spec = LoadSpec(
        **target_fields(url, checked_headers, scenario, data, data_mode, seed),
        **_load_fields(plan, requests),
        **check_timing(ramp_up, think_time, pacing, timeout),
        max_in_flight=(DEFAULT_MAX_IN_FLIGHT if max_in_flight is None
                       else positive_int(max_in_flight, "max_in_flight")),
        connections=None if connections is None else positive_int(connections, "connections"),
        keepalive=bool(keepalive), method=check_method(method), headers=checked_headers,
        body=check_body(body), expect_status=check_status(expect_status),
        insecure=bool(insecure), follow_redirects=bool(follow_redirects),
        interval=check_interval(interval), transport=check_transport(transport),
        graceful_stop=parse_duration(graceful_stop, "graceful_stop"), name=name,
        expected_interval=(None if expected_interval is None
                           else parse_duration(expected_interval, "expected_interval")),
        stages=plan.stages, shape_fn=plan.shape, seed=seed,
        alerts=None if alerts is None else as_rules(alerts), history=check_history(history),
        thresholds=parse_thresholds(thresholds), abort_on_fail=bool(abort_on_fail),
        abort_grace=parse_duration(abort_grace, "abort_grace"), notify=check_notify(notify),
        workers=check_workers(workers), cluster=check_cluster(cluster),
        **check_connection(http2, streams, cacert, cert, key, connect_to),
        observe=check_observe(scrape, scrape_match, watch_pid, metrics_port, metrics_linger,
                              otlp, otlp_headers, trace, trace_url, transport),
    )
    _check_combination(spec, expected_interval)
    return spec


def _load_fields(plan: Plan, requests: int | None) -> dict[str, Any]:
    """``users``, ``rate``, ``duration`` and ``requests`` of a checked plan: one model, within
    the limits, 10 s when neither a duration nor a request count ends the run."""
    users, rate, duration = plan.users, plan.rate, plan.duration
    if users is not None and rate is not None:
        raise ValueError("give either users (closed model) or rate (open model), not both")
    n_users = DEFAULT_USERS if users is None else positive_int(users, "users")
    given = (users, rate, duration)  # as the caller gave them, for the limits' message
    checked_rate = None if rate is None else positive_float(rate, "rate")
    run_for = None if duration is None else positive_duration(duration, "duration")
    n_requests = None if requests is None else positive_int(requests, "requests")
    check_limits(n_users, checked_rate, run_for, given)
    if run_for is None and n_requests is None:
        run_for = DEFAULT_DURATION
    return {"users": n_users, "rate": checked_rate, "duration": run_for, "requests": n_requests}


def _check_combination(spec: LoadSpec, expected_interval: object) -> None:
    """Reject parameters that are each valid but do not go together."""
    if spec.scenario is not None and spec.transport == "fast":
        raise ValueError("transport='fast' runs plain target-URL tests; scenarios use aiohttp")
    if spec.shape_fn is not None and spec.duration is None:
        raise ValueError("a shape function needs a duration")
    if spec.duration is not None and spec.ramp_up > spec.duration:
        raise ValueError(f"ramp_up ({spec.ramp_up:g}s) is longer than the duration "
                         f"({spec.duration:g}s)")
    if spec.transport == "fast" and (spec.follow_redirects or spec.method == "HEAD"):
        raise ValueError("transport='fast' does not follow redirects or send HEAD; "
                         "use transport='aiohttp' or 'auto'")
    if spec.expected_interval is not None:
        if spec.rate is not None:
            raise ValueError("expected_interval (coordinated-omission correction) applies to the "
                             "closed model (users); the open model (rate) already measures from "
                             "the intended start")
        if spec.expected_interval <= 0:
            raise ValueError(f"expected_interval must be greater than 0, got {expected_interval!r}")
    if spec.workers is not None and spec.cluster is not None:
        raise ValueError("give either workers (a local Dask cluster) or cluster (an existing "
                         "one), not both")
    if spec.pacing is not None:
        if spec.rate is not None:
            raise ValueError("pacing applies to the closed model (users); the open model (rate) "
                             "already paces the arrivals")
        if spec.think_time or spec.think_time_max:
            raise ValueError("give either think_time or pacing, not both")
        if spec.pacing <= 0:
            raise ValueError(f"pacing must be greater than 0, got {spec.pacing!r}")
    if spec.abort_on_fail and not spec.thresholds:
        raise ValueError("abort_on_fail needs thresholds (e.g. thresholds=['p99<300ms'])")
    check_protocol(spec.http2, spec.streams, scenario=spec.scenario is not None,
                   transport=spec.transport, follow_redirects=spec.follow_redirects,
                   trace=spec.observe.trace)


def spec_of(url_or_scenario: object, params: dict[str, Any]) -> LoadSpec:
    """The spec of ``run(url_or_scenario, **params)`` (and of every study's runs): the first
    argument is the URL or a scenario; ``url=``/``scenario=`` in ``params`` are taken out."""
    url, scenario = split_url_or_scenario(url_or_scenario, params.pop("url", None),
                                          params.pop("scenario", None))
    return make_spec(url, scenario=scenario, **params)


__all__ = ["DEFAULT_DURATION", "DEFAULT_USERS", "LoadSpec", "make_spec", "spec_of"]
