"""How bytes reach the server: one seam (:class:`Transport`) between the engine and the wire."""

from .base import ErrorKind, Request, Transport, classify_os_error

__all__ = ["ErrorKind", "Request", "Transport", "classify_os_error"]
