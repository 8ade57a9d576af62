"""Parsing and range checks of load-test parameters: one clear one-line ``ValueError`` each.

:func:`~loadnb.spec.config.make_spec` runs these on every parameter, whichever face (Python API,
widget, CLI) gave it, so bad input is rejected the same way everywhere, before a socket is opened.
Text is accepted where a face can only give text (``"30s"``, ``"10"``, ``"Name: value"``).

This module imports only :mod:`loadnb.spec.shape` of loadnb (never :mod:`loadnb.spec.config`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..text.units import parse_duration
from .shape import ShapeFn, check_stages

#: The HTTP methods a plain URL test may send.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The transports a run may ask for (``"auto"`` picks one).
TRANSPORTS = ("auto", "fast", "aiohttp")

_HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")




#: Sane limits: a bigger number is a typo (one rule each, checked by ``make_spec``).
MAX_USERS = 1_000_000
MAX_RATE = 1e6
MAX_DURATION = 30 * 86400.0


def check_limit(value: float, limit: float, what: str, unit: str = "",
                given: object = None) -> None:
    """``ValueError`` when ``value`` is above ``limit`` (``users must be at most 1,000,000``),
    echoing ``given`` (what the user typed: ``100000000``, ``'800h'``), else ``value``."""
    if value > limit:
        shown = value if given is None else given
        raise ValueError(f"{what} must be at most {limit:,.0f}{unit}, got {shown!r}")


def check_limits(users: int, rate: float | None, duration: float | None,
                 given: tuple[object, object, object] = (None, None, None)) -> None:
    """The sane limits of a plan: users, rate per second, duration (one rule each); ``given``:
    the three as the user gave them, for the message."""
    check_limit(users, MAX_USERS, "users", given=given[0])
    check_limit(rate or 0.0, MAX_RATE, "rate", " per second", given[1])
    check_limit(duration or 0.0, MAX_DURATION, "duration", " s (30 days)", given[2])


def positive_duration(value: str | float, what: str) -> float:
    """:func:`parse_duration`, and more than 0 s."""
    seconds = parse_duration(value, what)
    if seconds <= 0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return seconds


def check_interval(value: str | float) -> float:
    """The sampling interval in seconds: 50 ms to 60 s."""
    tick = parse_duration(value, "interval")
    if not 0.05 <= tick <= 60:
        raise ValueError(f"interval must be between 50ms and 60s, got {value!r}")
    return tick


def check_url(url: object) -> str:
    """An ``http://`` or ``https://`` URL with a host (and no port 0), stripped of blanks."""
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


def as_number(value: object) -> object:
    """Numbers given as text (CLI, widget fields) become numbers; anything else is left as is."""
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    return value


def positive_int(value: object, what: str, *, allow_zero: bool = False) -> int:
    """A whole number of at least 1 (or 0 with ``allow_zero``); ``2.0`` and ``"2"`` count."""
    value = as_number(value)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value != int(value)):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    low = 0 if allow_zero else 1
    if value < low:
        raise ValueError(f"{what} must be at least {low}, got {value!r}")
    return int(value)


def positive_float(value: object, what: str) -> float:
    """A finite number greater than 0."""
    value = as_number(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return float(value)


def check_method(method: object) -> str:
    """The HTTP method in upper case, one of :data:`METHODS`."""
    verb = method.upper() if isinstance(method, str) else method
    if verb not in METHODS:
        raise ValueError(f"method must be one of {', '.join(sorted(METHODS))}, got {method!r}")
    return str(verb)


def parse_header(text: str) -> tuple[str, str]:
    """``"K: V"`` → ``("K", "V")``, as given to ``--header``."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"invalid header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def check_headers(headers: object) -> dict[str, str]:
    """Headers from a mapping or a list of ``"Name: value"``: valid names, one-line values."""
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
        if not isinstance(name, str) or not _HEADER_NAME_RE.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValueError(f"invalid value for header {name!r}: must be text on one line")
        out[name] = value
    return out


def check_body(body: object) -> bytes | None:
    """The request body as bytes (text is UTF-8 encoded), or None."""
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise ValueError(f"body must be text or bytes, got {type(body).__name__}")


def check_status(expect: object) -> tuple[int, ...] | None:
    """The accepted status codes, sorted and unique, from one code or a collection of them."""
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


def check_transport(name: object) -> str:
    """One of :data:`TRANSPORTS`."""
    if name not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {name!r}")
    return str(name)


@dataclass(frozen=True)
class Plan:
    """The load as :func:`check_plan` settled it: users or rate, duration, stages or shape."""

    users: int | None
    rate: float | None
    duration: str | float | None
    stages: tuple[tuple[float, float], ...] | None = None
    shape: ShapeFn | None = None


def check_plan(users: object, rate: object, duration: object, ramp_up: object,
               stages: object, rate_stages: object, shape: object, rate_shape: object) -> Plan:
    """Stages and shapes set the load (and stages the duration): check they are not mixed with
    what they replace, and derive the users or rate the pool is sized for."""
    given = [n for n, v in (("stages", stages), ("rate_stages", rate_stages), ("shape", shape),
                            ("rate_shape", rate_shape)) if v is not None]
    if not given:
        return Plan(users, rate, duration)  # type: ignore[arg-type]
    if len(given) > 1:
        raise ValueError(f"give one of stages, rate_stages, shape, rate_shape (got {given})")
    what = given[0]
    opens = what.startswith("rate")
    for other, value in (("users", users), ("rate", rate)):
        if value is not None and (other == "users" or not opens):
            raise ValueError(f"{what} set the {'rate' if opens else 'users'}: don't pass "
                             f"{other}")
    if what.endswith("stages"):
        return _staged_plan(what, stages if what == "stages" else rate_stages, duration, ramp_up)
    fn = shape if what == "shape" else rate_shape
    if not callable(fn):
        raise ValueError(f"{what} must be a function of the elapsed seconds")
    if opens:
        return Plan(None, rate if rate is not None else 1.0, duration,  # type: ignore[arg-type]
                    shape=fn)
    return Plan(users, None, duration, shape=fn)  # type: ignore[arg-type]


def _staged_plan(what: str, stages: object, duration: object, ramp_up: object) -> Plan:
    """The plan of ``stages`` or ``rate_stages`` (``what``): they set the duration and ramps."""
    if duration is not None or ramp_up not in (0, 0.0, None, "0", "0s"):
        raise ValueError(f"{what} define the duration and the ramps: don't pass duration "
                         "or ramp_up with them")
    checked = check_stages(stages, what, parse_duration)
    peak = max(v for _, v in checked)
    if peak <= 0:
        raise ValueError(f"{what}: at least one stage needs a target above 0")
    total = sum(d for d, _ in checked)
    if what.startswith("rate"):
        return Plan(None, peak, total, checked)
    return Plan(max(1, math.ceil(peak)), None, total, checked)


def check_think_time(value: object) -> tuple[float, float | None]:
    """``think_time``: a time (``(t, None)``) or a ``(min, max)`` range, also written
    ``"1s:3s"`` (``(min, max)``, min <= max)."""
    if isinstance(value, str) and ":" in value:
        value = value.split(":", 1)
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(f"think_time must be a time or a (min, max) range, got {value!r}")
        low = parse_duration(value[0], "think_time")
        high = parse_duration(value[1], "think_time")
        if high < low:
            raise ValueError(f"think_time: the range's max is below its min, got {value!r}")
        return low, high
    return parse_duration(value, "think_time"), None  # type: ignore[arg-type]


def check_timing(ramp_up: str | float, think_time: object, pacing: str | float | None,
                 timeout: str | float) -> dict[str, Any]:
    """The checked ``ramp_up``, ``think_time`` (and ``think_time_max``), ``pacing`` and
    ``timeout`` of a :class:`~loadnb.spec.config.LoadSpec`, by field name."""
    low, high = check_think_time(think_time)
    return {"ramp_up": parse_duration(ramp_up, "ramp_up"), "think_time": low,
            "think_time_max": high,
            "pacing": None if pacing is None else parse_duration(pacing, "pacing"),
            "timeout": positive_duration(timeout, "timeout")}


__all__ = ["METHODS", "TRANSPORTS", "Plan", "as_number", "check_body",
           "check_headers", "check_think_time", "check_timing",
           "check_interval", "check_method", "check_plan", "check_status", "check_transport",
           "check_url", "parse_header", "positive_duration", "positive_float",
           "positive_int", "check_limit", "check_limits", "MAX_USERS", "MAX_RATE", "MAX_DURATION"]
