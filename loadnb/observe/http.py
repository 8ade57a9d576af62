"""What the scraper and the OTLP pusher share: URL checks and error texts without secrets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from urllib.parse import urlsplit

from ..text.redact import redact_text, redact_url

__all__ = ["Failed", "check_url", "describe_error"]


class Failed(Exception):
    """A request that did not give what was wanted; the message says why (no secret in it)."""


def check_url(url: object, what: str) -> str:
    """``url`` if it is an http(s) URL with a host; ValueError (secrets redacted) if not."""
    if not isinstance(url, str):
        raise ValueError(f"{what} must be a string, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises ValueError here
    except ValueError:
        raise ValueError(f"{what} is not a URL: {redact_url(url)!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http:// or https:// URL with a host, "
                         f"got {redact_url(url)!r}")
    return url



def _connector_error() -> type[BaseException]:
    """aiohttp's connect failure, imported when an error is described (a run that observes
    nothing never imports aiohttp for this module)."""
    import aiohttp

    return aiohttp.ClientConnectorError


def describe_error(exc: BaseException, timeout: float, secrets: Iterable[str] = ()) -> str:
    """One short line saying why a request failed: URL passwords, secret query parameters and
    the values in ``secrets`` (header values) replaced by ``***``."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        text = f"no answer within {timeout:g} s"
    elif isinstance(exc, Failed):
        text = str(exc)
    elif isinstance(exc, _connector_error()):
        text = f"cannot connect ({getattr(exc, 'os_error', exc)})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return redact_text(text)[:200]
