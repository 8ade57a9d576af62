"""A virtual user's cookies: a small RFC 6265 cookie store, one per user.

Each ``Set-Cookie`` a user receives is parsed as RFC 6265 §5.2 says (the part before the first
``;`` is ``name=value``, the rest are attributes; unknown or malformed attributes are ignored) and
stored under ``(domain, path, name)`` (§5.3): without ``Domain`` the cookie is host-only (sent back
to that exact host); with it, to the domain and its subdomains, and only if the host that set it
domain-matches it (§5.1.3). Without a valid ``Path`` the default path is the request path up to
its last ``/`` (§5.1.4). ``Max-Age`` wins over ``Expires``; a cookie whose expiry has passed is
deleted (so ``Max-Age=0`` or an ``Expires`` in the past deletes it). A request carries, in one
``Cookie`` header, the cookies whose domain and path match its URL, ``Secure`` ones only over
https, the longest path first, then the oldest (§5.4).

Not done (a load tester is not a browser): public-suffix checks, ``SameSite`` and ``HttpOnly``
(kept, never enforced), per-domain limits; a jar holds at most :data:`MAX_COOKIES`, dropping the
least recently set beyond that, and an expiry is at most 400 days away (as RFC 6265bis caps it).

Cookie values are secrets: :class:`Cookie` and :class:`CookieJar` never show them in ``repr``,
and parsing never raises (a malformed ``Set-Cookie`` is ignored), so no value reaches an error.
The wall clock used for expiry is injectable (``CookieJar(clock=...)``).
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from urllib.parse import urlsplit

#: The most cookies one user holds; beyond it the least recently set one is dropped.
MAX_COOKIES = 300
#: The furthest an expiry may be, in seconds (RFC 6265bis: 400 days).
MAX_AGE_CAP = 400 * 24 * 3600

_MAX_AGE_RE = re.compile(r"-?[0-9]+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SECURE_SCHEMES = frozenset({"https", "wss"})

Clock = Callable[[], float]


@dataclass(slots=True)
class Cookie:
    """One stored cookie. ``expires`` is in seconds since the epoch (None: lives as long as the
    user); ``created`` orders cookies of equal path length when sent."""

    name: str
    value: str = field(repr=False)
    domain: str
    path: str
    host_only: bool
    secure: bool = False
    http_only: bool = False
    expires: float | None = None
    created: int = 0

    def matches(self, host: str, path: str, secure: bool) -> bool:
        """Whether a request to ``host`` and ``path`` (over a secure channel or not) carries it."""
        if self.secure and not secure:
            return False
        if self.host_only:
            if host != self.domain:
                return False
        elif not domain_match(host, self.domain):
            return False
        return path_match(path, self.path)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def domain_match(host: str, domain: str) -> bool:
    """RFC 6265 §5.1.3: ``host`` is ``domain``, or a host name (not an IP) ending in
    ``"." + domain``."""
    if host == domain:
        return True
    return host.endswith("." + domain) and not _is_ip(host)


def path_match(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4: ``cookie_path`` is ``request_path`` or a prefix of it ending at a ``/``."""
    if request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"


def default_path(request_path: str) -> str:
    """RFC 6265 §5.1.4: the path a cookie set without ``Path`` gets (up to the last ``/``)."""
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[:request_path.rfind("/")]


def _parse_expires(value: str) -> float | None:
    """An HTTP date as seconds since the epoch, or None when it is not one."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        return when.timestamp()
    except (OverflowError, ValueError, OSError):
        return None


def _parse_max_age(value: str) -> int | None:
    """RFC 6265 §5.2.2: an optional ``-`` and digits, else ignored (None)."""
    return int(value) if _MAX_AGE_RE.fullmatch(value) else None


@dataclass(slots=True)
class _Attributes:
    """The attributes of one Set-Cookie that storage needs (the last valid one of each wins)."""

    expires: float | None = None
    max_age: int | None = None
    domain: str | None = None
    path: str | None = None
    secure: bool = False
    http_only: bool = False


def _parse_attributes(text: str) -> _Attributes:
    out = _Attributes()
    for item in text.split(";"):
        key, _, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "expires":
            when = _parse_expires(value)
            out.expires = out.expires if when is None else when
        elif key == "max-age":
            age = _parse_max_age(value)
            out.max_age = out.max_age if age is None else age
        elif key == "domain" and value:  # "Domain=." leaves the cookie host-only
            out.domain = (value[1:] if value.startswith(".") else value).lower() or None
        elif key == "path":
            out.path = value if value.startswith("/") else None
        elif key == "secure":
            out.secure = True
        elif key == "httponly":
            out.http_only = True
    return out


class CookieJar:
    """The cookies of one virtual user, keyed by ``(domain, path, name)``.

    >>> jar = CookieJar(clock=lambda: 0.0)
    >>> jar.update(["sid=abc; Path=/a"], "http://127.0.0.1:8000/login")
    >>> jar.header_for("http://127.0.0.1:8000/a/x"), jar.header_for("http://127.0.0.1:8000/b")
    ('sid=abc', None)
    """

    def __init__(self, clock: Clock = time.time, max_cookies: int = MAX_COOKIES) -> None:
        self._clock = clock
        self._max = max_cookies
        self._store: dict[tuple[str, str, str], Cookie] = {}
        self._order = itertools.count()

    def update(self, set_cookies: Iterable[str], url: str) -> None:
        """Store the ``Set-Cookie`` header values of a response to ``url``."""
        for header in set_cookies:
            self.set(header, url)

    def set(self, header: str, url: str) -> None:
        """Store one ``Set-Cookie`` value received from ``url`` (ignored when malformed or not
        allowed for that host); an expired one deletes the cookie it names."""
        pair, _, attributes = header.partition(";")
        name, eq, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not eq or not name or not host or _CONTROL_RE.search(name + value):
            return
        attrs = _parse_attributes(attributes)
        if attrs.domain is not None and not domain_match(host, attrs.domain):
            return
        domain, path = attrs.domain or host, attrs.path or default_path(parts.path)
        key = (domain, path, name)
        old = self._store.pop(key, None)
        now = self._clock()
        expires = self._expiry(attrs, now)
        if expires is not None and expires <= now:
            return
        self._store[key] = Cookie(
            name, value, domain, path, host_only=attrs.domain is None, secure=attrs.secure,
            http_only=attrs.http_only, expires=expires,
            created=old.created if old is not None else next(self._order))
        while len(self._store) > self._max:
            del self._store[next(iter(self._store))]

    @staticmethod
    def _expiry(attrs: _Attributes, now: float) -> float | None:
        if attrs.max_age is not None:
            return now + min(attrs.max_age, MAX_AGE_CAP) if attrs.max_age > 0 else now
        if attrs.expires is not None:
            return min(attrs.expires, now + MAX_AGE_CAP)
        return None

    def matching(self, url: str) -> list[Cookie]:
        """The cookies a request to ``url`` carries, in the order they are sent."""
        self._drop_expired()
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path or "/"
        secure = parts.scheme.lower() in _SECURE_SCHEMES
        found = [c for c in self._store.values() if c.matches(host, path, secure)]
        found.sort(key=lambda c: (-len(c.path), c.created))
        return found

    def header_for(self, url: str) -> str | None:
        """The ``Cookie`` header value for a request to ``url``, or None when no cookie matches."""
        found = self.matching(url)
        return "; ".join(f"{c.name}={c.value}" for c in found) if found else None

    def as_dict(self) -> Mapping[str, str]:
        """The cookies held now as a read-only ``name -> value`` mapping (of several cookies
        with one name, for different paths or domains, the most recently set one)."""
        self._drop_expired()
        return MappingProxyType({c.name: c.value for c in self._store.values()})

    def clear(self) -> None:
        """Forget every cookie (a logout, say)."""
        self._store.clear()

    def _drop_expired(self) -> None:
        now = self._clock()
        for key in [k for k, c in self._store.items() if c.expires is not None
                    and c.expires <= now]:
            del self._store[key]

    def __len__(self) -> int:
        self._drop_expired()
        return len(self._store)

    def __iter__(self) -> Iterator[Cookie]:
        self._drop_expired()
        return iter(list(self._store.values()))

    def __repr__(self) -> str:
        return f"<CookieJar of {len(self)} cookies>"


__all__ = ["MAX_COOKIES", "Cookie", "CookieJar", "default_path", "domain_match", "path_match"]
