"""Validation of a run's options beyond its load: where it runs (``workers``, ``cluster``), where it
is kept (``history``) and whom it tells (``notify``); and how each is shown or stored (no secrets).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..text.redact import redact_webhook
from .validate import check_url


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
    """``cluster=``: a scheduler address ``tcp://host:port``, or a ``distributed.Client``."""
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
    raise ValueError(f"cluster must be a Dask scheduler address like 'tcp://127.0.0.1:8786' or "
                     f"a distributed.Client, got {type(cluster).__name__}")


def shown_cluster(cluster: object) -> str | None:
    """``cluster=`` as it may be printed or stored: the scheduler address."""
    if cluster is None or isinstance(cluster, str):
        return cluster
    address = getattr(getattr(cluster, "scheduler", None), "address", None)
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


__all__ = ["check_cluster", "check_history", "check_notify", "check_workers", "notify_url",
           "shown_cluster", "shown_hook"]
