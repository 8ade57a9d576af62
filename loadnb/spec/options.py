"""Validation of a run's options beyond its load: where it runs (``workers``, ``cluster``), where it
is kept (``history``), whom it tells (``notify``), the protocol and connection controls
(``http2``, ``streams``, ``cacert``, ``cert``/``key``, ``connect_to``); and how each is shown or
stored (no secrets).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..text.redact import redact_webhook
from ..transport.base import TransportOptions
from ..transport.tls import client_context, parse_connect_to
from .validate import check_url, positive_int

#: Concurrent streams per HTTP/2 connection when ``streams`` is not given.
DEFAULT_STREAMS = 10


def check_workers(workers: object) -> int | str | None:
    """``workers=``: a whole number >= 1, or ``"auto"`` (one per core)."""
    if workers is None:
        return None
    if isinstance(workers, str) and workers.strip().lower() == "auto":
        return "auto"
    if isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1:
        return workers
    raise ValueError(f"workers must be a whole number >= 1 or 'auto', got {workers!r}")


def check_cluster(cluster: object) -> object:
    """``cluster=``: a scheduler address ``tcp://host:port``, a ``distributed.Client``, or a
    cluster object (``loadnb.cluster(...)``, ``LocalCluster``, ``KubeCluster``, ``GatewayCluster``,
    a dask-jobqueue or Coiled cluster: anything with a ``scheduler_address``)."""
    if cluster is None:
        return None
    if isinstance(cluster, str):
        parts = urlsplit(cluster.strip())
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme == "tcp" and parts.hostname and port and not parts.path.strip("/"):
            return cluster.strip()
        raise ValueError(f"cluster must be a Dask scheduler address like "
                         f"'tcp://127.0.0.1:8786' or a distributed.Client, got {cluster!r}")
    if type(cluster).__name__ == "Client" and type(cluster).__module__.startswith("distributed"):
        return cluster
    if isinstance(getattr(cluster, "scheduler_address", None), str):  # (a closed
        return cluster                                                # loadnb.cluster raises)
    raise ValueError(f"cluster must be a Dask scheduler address like 'tcp://127.0.0.1:8786', a "
                     f"distributed.Client or a cluster object, got {type(cluster).__name__}")


def shown_cluster(cluster: object) -> str | None:
    """``cluster=`` as it may be printed or stored: the scheduler address."""
    if cluster is None or isinstance(cluster, str):
        return cluster
    try:
        address = getattr(cluster, "scheduler_address", None)
    except ValueError:  # a closed loadnb.cluster
        address = None
    address = address or getattr(getattr(cluster, "scheduler", None), "address", None)
    return str(address) if address else "client"


def check_notify(notify: object) -> tuple[str | Callable[..., Any], ...]:
    """``notify=``: webhook URLs (http or https) and callables."""
    if notify is None:
        return ()
    items = [notify] if isinstance(notify, str) or callable(notify) else notify
    if not isinstance(items, list | tuple):
        raise ValueError(f"notify must be webhook URLs or callables, got {notify!r}")
    out: list[str | Callable[..., Any]] = []
    for item in items:
        if callable(item):
            out.append(item)
        elif isinstance(item, str):
            out.append(notify_url(item))
        else:
            raise ValueError(f"notify must be webhook URLs or callables, got {item!r}")
    return tuple(out)


def notify_url(url: str) -> str:
    try:
        return check_url(url)
    except ValueError as exc:
        raise ValueError(f"notify: {exc}") from None


def shown_hook(hook: object) -> str:
    """A notify target as it may be stored: a URL's scheme and host, or a callable's name."""
    if isinstance(hook, str):
        return redact_webhook(hook)
    return str(getattr(hook, "__name__", "callback"))


def check_history(history: object) -> str | None:
    """``history=``: None (the default place), ``"off"``, or a path as text."""
    if history is None or history is True:
        return None
    if history is False:
        return "off"
    if isinstance(history, str | os.PathLike):
        text = os.fspath(history)
        if isinstance(text, str) and text.strip():
            return "off" if text.strip().lower() == "off" else text
    raise ValueError(f"history must be a file path, True, False or 'off', got {history!r}")


def _file(value: object, what: str) -> str | None:
    """A TLS file option: None, or the path of a readable file."""
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ValueError(f"{what} must be a file path, got {value!r}")
    path = str(os.fspath(value))
    if not os.path.isfile(path):
        raise ValueError(f"{what}: no such file {path!r}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{what}: cannot read {path!r}")
    return path


def check_connection(http2: object, streams: object, cacert: object, cert: object, key: object,
                     connect_to: object) -> dict[str, Any]:
    """The protocol and connection controls as :class:`~loadnb.spec.config.LoadSpec` fields:
    ``streams`` a whole number >= 1, the TLS files readable and usable (a client ``key`` needs
    its ``cert``), each ``connect_to`` rule curl's ``HOST:PORT:ADDR:PORT``."""
    if isinstance(connect_to, str):
        connect_to = (connect_to,)
    if not isinstance(connect_to, list | tuple):
        raise ValueError(f"connect_to is a list of HOST:PORT:ADDR:PORT rules, got {connect_to!r}")
    rules: tuple[object, ...] = tuple(connect_to)
    for rule in rules:
        if not isinstance(rule, str):
            raise ValueError(f"connect_to rules are text (HOST:PORT:ADDR:PORT), got {rule!r}")
        parse_connect_to(rule)
    fields: dict[str, Any] = {
        "http2": bool(http2), "connect_to": tuple(str(rule) for rule in rules),
        "streams": None if streams is None else positive_int(streams, "streams"),
        "cacert": _file(cacert, "cacert"), "cert": _file(cert, "cert"), "key": _file(key, "key")}
    if fields["key"] is not None and fields["cert"] is None:
        raise ValueError("key is the client certificate's private key: pass cert as well")
    if fields["cacert"] or fields["cert"]:  # the files' content, before anything is sent
        client_context(TransportOptions("https://127.0.0.1/", cacert=fields["cacert"],
                                        cert=fields["cert"], key=fields["key"]))
    return fields


def check_protocol(http2: bool, streams: int | None, *, scenario: bool, transport: str,
                   follow_redirects: bool, trace: bool = False) -> None:
    """Reject an HTTP/2 run the HTTP/2 transport cannot make (another transport asked for, a
    URL run following redirects or tracing: it sends one prepared request) and ``streams``
    without HTTP/2. Scenarios send each request over HTTP/2 with its own headers and follow
    redirects as they do over HTTP/1.1."""
    if streams is not None and not http2:
        raise ValueError("streams (concurrent streams per connection) applies to http2")
    if not http2:
        return
    if transport != "auto":
        raise ValueError(f"http2 picks the HTTP/2 transport: drop transport={transport!r}")
    if trace and not scenario:
        raise ValueError("trace needs per-request headers: http2 URL runs send one prepared "
                         "request (drop http2 or trace, or run a scenario)")
    if follow_redirects and not scenario:
        raise ValueError("http2 does not follow redirects in URL runs: drop follow_redirects "
                         "(a scenario follows them)")


__all__ = ["DEFAULT_STREAMS", "check_cluster", "check_connection", "check_history",
           "check_notify", "check_protocol", "check_workers", "notify_url", "shown_cluster",
           "shown_hook"]
