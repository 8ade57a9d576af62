"""Secrets: what must never be shown, stored or logged, and how it is hidden.

Passwords in URLs become ``***`` (:func:`redact_url`, :func:`redact_text`), secret headers
(Authorization, cookies, tokens: :data:`SECRET_HEADERS`) become ``***`` (:func:`redact_headers`),
and ``user:password@`` in a target URL moves into an ``Authorization`` header
(:func:`split_credentials`) so the URL shown anywhere carries no secret.

This module imports nothing of loadnb, so any module may use it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

#: Header names (lower case) whose values are secrets.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie",
                            "x-api-key", "x-auth-token", "x-csrf-token"})

_SECRET_IN_URL = re.compile(r"(?<=://)([^/@\s:]*):[^/@\s]*@")
#: Query parameters (any case) whose values are secrets, redacted like URL passwords.
SECRET_PARAMS = frozenset({"token", "key", "api_key", "apikey", "password", "secret",
                           "signature", "access_token"})
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:" + "|".join(sorted(SECRET_PARAMS, key=len,
                                                                 reverse=True))
                           + r"))=[^&;#\s\"'<>\\]*")


def _redact_query(text: str) -> str:
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", text)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (user names are kept), and the values of
    secret query parameters (``token``, ``api_key``, ``signature``…: :data:`SECRET_PARAMS`)."""
    url = _redact_query(url)
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


def redact_text(text: str) -> str:
    """``text`` with passwords in URLs and secret query parameters replaced by ``***`` (for
    error samples and logs)."""
    return _redact_query(_SECRET_IN_URL.sub(lambda m: f"{m.group(1)}:***@", text))


def split_credentials(url: str, headers: dict[str, str]) -> str:
    """Move ``user:password@`` from the URL into an ``Authorization: Basic`` header, so every
    transport sends the same request and the URL shown anywhere carries no secret.

    ``headers`` is updated in place; the URL without the credentials is returned.
    """
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


__all__ = ["SECRET_HEADERS", "redact_headers", "redact_text", "redact_url", "redact_webhook",
           "split_credentials", "SECRET_PARAMS"]


def redact_webhook(url: str) -> str:
    """A webhook URL as it may be shown or stored: scheme and host only (chat webhooks carry
    their secret in the path)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}/***"
