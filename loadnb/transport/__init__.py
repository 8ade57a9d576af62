"""How bytes reach the server: one seam (:class:`Transport`) between the engine and the wire."""

from ..config import LoadSpec
from .base import ErrorKind, Request, Transport, classify_os_error


def make_transport(spec: LoadSpec) -> Transport:
    """The transport ``spec`` asks for; ``"auto"`` takes the fast one whenever it can run the test.

    Imports are local so a run only loads the client it uses.
    """
    if spec.transport != "aiohttp" and spec.scenario is None:
        from .fast import FastTransport, fast_supported

        reason = fast_supported(spec)
        if reason is None:
            return FastTransport(spec)
        if spec.transport == "fast":
            raise ValueError(f"transport='fast' cannot run this test: {reason}")
    from .aio import AiohttpTransport

    return AiohttpTransport(spec)


__all__ = ["ErrorKind", "Request", "Transport", "classify_os_error", "make_transport"]
