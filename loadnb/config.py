"""LoadSpec: what to run, validated before anything starts.

Every face (Python API, widget, CLI) builds a :class:`LoadSpec` through :func:`make_spec`, so bad
input gets the same one-line :class:`ValueError` everywhere, before a socket is opened.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from .alerts import AlertRule, as_rules
from .scenario import Scenario, as_scenario, make_feeder
from .shape import LoadShape, ShapeFn, check_stages
from .transport.base import TransportOptions

DEFAULT_USERS = 10
DEFAULT_DURATION = 10.0
DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 0.5
DEFAULT_GRACEFUL_STOP = 5.0
DEFAULT_MAX_IN_FLIGHT = 1000

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie",
                            "x-api-key", "x-auth-token", "x-csrf-token"})

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h)?\s*$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def parse_duration(value: str | float | int, what: str = "duration") -> float:
    """Seconds from ``30``, ``1.5``, ``"30s"``, ``"500ms"``, ``"2m"`` or ``"1h"``.

    >>> parse_duration("2m")
    120.0
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number of seconds or like '30s', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value.lower())
        if match is None:
            raise ValueError(
                f"{what} must be a number of seconds or like '30s', '500ms', '2m', got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError(f"{what} must be a number of seconds or like '30s', got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} must be a finite, non-negative time, got {value!r}")
    return seconds


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (user names are kept)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to show or store: secrets (Authorization, cookies, tokens) become ``***``."""
    return {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """A validated description of one load test. Build it with :func:`make_spec`.

    Closed model when ``rate`` is None (``users`` virtual users, each sending its next request when
    the last one ends); open model when ``rate`` is set (arrivals per second on a fixed schedule,
    at most ``max_in_flight`` at once, arrivals beyond that counted as dropped).
    """

    url: str
    users: int = DEFAULT_USERS
    rate: float | None = None
    duration: float | None = DEFAULT_DURATION
    requests: int | None = None
    ramp_up: float = 0.0
    think_time: float = 0.0
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
        """Connections in the keep-alive pool: ``connections``, else one per concurrent request."""
        if self.connections is not None:
            return self.connections
        return self.users if self.rate is None else self.max_in_flight

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
            kind=self.transport, plain=self.scenario is None)

    def is_success(self, status: int) -> bool:
        """Whether a response status counts as completed rather than failed."""
        if self.expect_status is not None:
            return status in self.expect_status
        return status < 400

    def public_params(self) -> dict[str, Any]:
        """Parameters safe to print or store: secrets redacted, the body summarised."""
        return {
            "url": redact_url(self.url), "model": self.model, "users": self.users,
            "rate": self.rate, "duration": self.duration, "requests": self.requests,
            "ramp_up": self.ramp_up, "think_time": self.think_time, "timeout": self.timeout,
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
        }

    def replace(self, **changes: Any) -> LoadSpec:
        """A copy with ``changes`` applied and validated again."""
        return make_spec(**{**_spec_kwargs(self), **changes})


def _spec_kwargs(spec: LoadSpec) -> dict[str, Any]:
    kw = {f: getattr(spec, f) for f in LoadSpec.__dataclass_fields__}
    if kw["rate"] is not None:
        kw["users"] = None
    return kw


def _split_credentials(url: str, headers: dict[str, str]) -> str:
    """Move ``user:password@`` from the URL into an ``Authorization: Basic`` header, so every
    transport sends the same request and the URL shown anywhere carries no secret."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    if any(k.lower() == "authorization" for k in headers):
        raise ValueError("give credentials either in the URL or in an Authorization header, "
                         "not both")
    token = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(SplitResult(parts.scheme, host, parts.path, parts.query, parts.fragment))


def _check_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"invalid URL {url!r}: expected http://host[:port]/path or https://…")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"invalid URL {url!r}: expected http:// or https:// (got "
            f"{(parts.scheme + '://') if parts.scheme else 'no scheme'})")
    if not parts.hostname:
        raise ValueError(f"invalid URL {url!r}: no host")
    if port == 0:
        raise ValueError(f"invalid URL {url!r}: port 0")
    return url


def _number(value: object) -> object:
    """Numbers given as text (CLI, widget fields) become numbers; anything else is left as is."""
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    return value


def _positive_int(value: object, what: str, *, allow_zero: bool = False) -> int:
    value = _number(value)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value != int(value)):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    low = 0 if allow_zero else 1
    if value < low:
        raise ValueError(f"{what} must be at least {low}, got {value!r}")
    return int(value)


def _positive_float(value: object, what: str) -> float:
    value = _number(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return float(value)


def _check_headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    items: Sequence[Any]
    if isinstance(headers, Mapping):
        items = list(headers.items())
    elif isinstance(headers, list | tuple):
        items = [parse_header(h) if isinstance(h, str) else h for h in headers]
    else:
        kind = type(headers).__name__
        raise ValueError(f"headers must be a mapping of name to value, got {kind}")
    out: dict[str, str] = {}
    for name, value in items:
        if not isinstance(name, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ValueError(f"invalid header name {name!r}")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValueError(f"invalid value for header {name!r}: must be text on one line")
        out[name] = value
    return out


TRANSPORTS = ("auto", "fast", "aiohttp")


def _check_transport(name: object) -> str:
    if name not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {name!r}")
    return str(name)


def parse_header(text: str) -> tuple[str, str]:
    """``"K: V"`` → ``("K", "V")``, as given to ``--header``."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"invalid header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def _check_body(body: object) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise ValueError(f"body must be text or bytes, got {type(body).__name__}")


def _check_status(expect: object) -> tuple[int, ...] | None:
    if expect is None:
        return None
    values = [expect] if isinstance(expect, int | str) else expect
    if not isinstance(values, list | tuple | set | frozenset | range):
        raise ValueError(f"expect_status must be a status code or a list of them, got {expect!r}")
    out: list[int] = []
    for v in values:
        code = int(v) if isinstance(v, str) and v.strip().isdigit() else v
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise ValueError(f"expect_status must be HTTP status codes (100-599), got {v!r}")
        out.append(code)
    return tuple(sorted(set(out)))


def make_spec(
    url: str | None = None,
    *,
    users: int | None = None,
    rate: float | None = None,
    duration: str | float | None = None,
    requests: int | None = None,
    ramp_up: str | float = 0.0,
    think_time: str | float = 0.0,
    timeout: str | float = DEFAULT_TIMEOUT,
    max_in_flight: int | None = None,
    connections: int | None = None,
    keepalive: bool = True,
    method: str = "GET",
    headers: Mapping[str, str] | Sequence[str] | None = None,
    body: str | bytes | None = None,
    expect_status: int | Sequence[int] | None = None,
    insecure: bool = False,
    follow_redirects: bool = False,
    interval: str | float = DEFAULT_INTERVAL,
    graceful_stop: str | float = DEFAULT_GRACEFUL_STOP,
    name: str | None = None,
    expected_interval: str | float | None = None,
    transport: str = "auto",
    scenario: object = None,
    data: object = None,
    data_mode: str = "cycle",
    stages: Sequence[tuple[str | float, float]] | None = None,
    rate_stages: Sequence[tuple[str | float, float]] | None = None,
    shape: ShapeFn | None = None,
    rate_shape: ShapeFn | None = None,
    seed: int | None = None,
    alerts: Sequence[object] | None = None,
) -> LoadSpec:
    """Validate the parameters of a load test; raise one clear ``ValueError`` for bad input.

    ``users`` and ``rate`` are exclusive (closed vs open model). With neither ``duration`` nor
    ``requests`` the run lasts 10 s; with both, it ends at whichever comes first.
    ``expected_interval`` (closed model only) turns on coordinated-omission correction: a response
    slower than the interval a user is expected to keep also records the requests that user would
    have sent meanwhile (HdrHistogram's ``record_corrected_value``), in ``latency`` only;
    ``alerts``: the alert rules (:class:`~loadnb.alerts.AlertRule` or callables
    ``(Snapshot) -> str | None``) judged on every snapshot; None means the defaults
    (:func:`~loadnb.alerts.default_rules`), ``[]`` none;
    ``service`` stays the raw time from the send. ``transport``: ``"fast"`` (keep-alive HTTP/1.1
    on asyncio protocols, llhttp parser), ``"aiohttp"`` (full HTTP features), or ``"auto"``: fast
    whenever it can run the test (no redirects to follow, not HEAD).

    >>> make_spec("http://127.0.0.1:8000/", rate=200, duration="30s").model
    'open'
    """
    plan = _check_plan(users, rate, duration, ramp_up, stages, rate_stages, shape, rate_shape)
    users, rate, duration = plan.users, plan.rate, plan.duration
    checked_scenario = None if scenario is None else as_scenario(scenario)
    url = "" if url is None and checked_scenario is not None else _check_url(url)
    checked_headers = _check_headers(headers)
    url = _split_credentials(url, checked_headers) if url else url
    if data is not None and checked_scenario is None:
        raise ValueError("data feeds a scenario: pass scenario=… as well")
    feeder = None if data is None else make_feeder(data, data_mode, seed)
    if users is not None and rate is not None:
        raise ValueError("give either users (closed model) or rate (open model), not both")
    n_users = DEFAULT_USERS if users is None else _positive_int(users, "users")
    if rate is not None:
        rate = _positive_float(rate, "rate")
    run_for = None if duration is None else parse_duration(duration, "duration")
    if run_for is not None and run_for <= 0:
        raise ValueError(f"duration must be greater than 0, got {duration!r}")
    n_requests = None if requests is None else _positive_int(requests, "requests")
    if run_for is None and n_requests is None:
        run_for = DEFAULT_DURATION
    verb = method.upper() if isinstance(method, str) else method
    if verb not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(sorted(_METHODS))}, got {method!r}")
    tick = parse_duration(interval, "interval")
    if not 0.05 <= tick <= 60:
        raise ValueError(f"interval must be between 50ms and 60s, got {interval!r}")
    req_timeout = parse_duration(timeout, "timeout")
    if req_timeout <= 0:
        raise ValueError(f"timeout must be greater than 0, got {timeout!r}")
    spec = LoadSpec(
        url=url, users=n_users, rate=rate, duration=run_for, requests=n_requests,
        ramp_up=parse_duration(ramp_up, "ramp_up"),
        think_time=parse_duration(think_time, "think_time"),
        timeout=req_timeout,
        max_in_flight=(DEFAULT_MAX_IN_FLIGHT if max_in_flight is None
                       else _positive_int(max_in_flight, "max_in_flight")),
        connections=None if connections is None else _positive_int(connections, "connections"),
        keepalive=bool(keepalive), method=verb, headers=checked_headers,
        body=_check_body(body), expect_status=_check_status(expect_status),
        insecure=bool(insecure), follow_redirects=bool(follow_redirects), interval=tick,
        graceful_stop=parse_duration(graceful_stop, "graceful_stop"),
        name=name,
        expected_interval=(None if expected_interval is None
                           else parse_duration(expected_interval, "expected_interval")),
        transport=_check_transport(transport), scenario=checked_scenario,
        data_rows=None if feeder is None else tuple(feeder.rows), data_mode=data_mode,
        stages=plan.stages, shape_fn=plan.shape, seed=seed,
        alerts=None if alerts is None else as_rules(alerts),
    )
    if checked_scenario is not None and spec.transport == "fast":
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
    return spec


def is_scenario(obj: object) -> bool:
    """Whether ``obj`` is given as a scenario (an async function, a mapping of them, a
    :class:`~loadnb.scenario.Scenario`) rather than as a URL."""
    return isinstance(obj, Scenario | Mapping) or (callable(obj) and not isinstance(obj, str))


def split_target(url_or_scenario: object, url: object, scenario: object) -> tuple[Any, Any]:
    """``(url, scenario)`` from ``LoadTest(url_or_scenario, url=…, scenario=…)``.

    The first argument is a URL, or a scenario whose base URL is then ``url=``. Anything else is
    left to :func:`~loadnb.config.make_spec` to reject, with its own message.
    """
    if url_or_scenario is None:
        return url, scenario
    if is_scenario(url_or_scenario):
        if scenario is not None:
            raise ValueError("give the scenario once: as the first argument or as scenario=, "
                             "not both")
        return url, url_or_scenario
    if url is not None:
        raise ValueError("give the URL once: as the first argument or as url=, not both")
    return url_or_scenario, scenario


@dataclass(frozen=True)
class _Plan:
    users: int | None
    rate: float | None
    duration: str | float | None
    stages: tuple[tuple[float, float], ...] | None = None
    shape: ShapeFn | None = None


def _check_plan(users: object, rate: object, duration: object, ramp_up: object,
                stages: object, rate_stages: object, shape: object, rate_shape: object) -> _Plan:
    """Stages and shapes set the load (and stages the duration): check they are not mixed with
    what they replace, and derive the users or rate the pool is sized for."""
    given = [n for n, v in (("stages", stages), ("rate_stages", rate_stages), ("shape", shape),
                            ("rate_shape", rate_shape)) if v is not None]
    if not given:
        return _Plan(users, rate, duration)  # type: ignore[arg-type]
    if len(given) > 1:
        raise ValueError(f"give one of stages, rate_stages, shape, rate_shape (got {given})")
    what = given[0]
    opens = what.startswith("rate")
    if (users if opens else rate) is not None:
        other = "users" if opens else "rate"
        raise ValueError(f"{what} set the {'rate' if opens else 'users'}: don't pass {other}")
    if what.endswith("stages"):
        if duration is not None or ramp_up not in (0, 0.0, None, "0", "0s"):
            raise ValueError(f"{what} define the duration and the ramps: don't pass duration "
                             "or ramp_up with them")
        checked = check_stages(stages if what == "stages" else rate_stages, what, parse_duration)
        peak = max(v for _, v in checked)
        if peak <= 0:
            raise ValueError(f"{what}: at least one stage needs a target above 0")
        total = sum(d for d, _ in checked)
        return (_Plan(None, peak, total, checked) if opens
                else _Plan(max(1, math.ceil(peak)), None, total, checked))
    fn = shape if what == "shape" else rate_shape
    if not callable(fn):
        raise ValueError(f"{what} must be a function of the elapsed seconds")
    if opens:
        return _Plan(None, rate if rate is not None else 1.0, duration,  # type: ignore[arg-type]
                     shape=fn)
    return _Plan(users, None, duration, shape=fn)  # type: ignore[arg-type]


__all__ = ["LoadSpec", "is_scenario", "make_spec", "parse_duration", "parse_header",
           "redact_headers", "redact_url", "split_target"]
