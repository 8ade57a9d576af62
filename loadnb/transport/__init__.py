"""How bytes reach the server: one seam (:class:`Transport`) between the engine and the wire."""

from .base import ErrorKind, Request, Transport, TransportOptions, classify_os_error


def make_transport(options: TransportOptions) -> Transport:
    """The transport ``options`` ask for; ``"auto"`` takes the fast one whenever it can run the
    test (a plain target-URL test it supports).

    Imports are local so a run only loads the client it uses.
    """
    if options.kind != "aiohttp" and options.plain:
        from .fast import FastTransport, fast_supported

        reason = fast_supported(options)
        if reason is None:
            return FastTransport(options)
        if options.kind == "fast":
            raise ValueError(f"transport='fast' cannot run this test: {reason}")
    from .aio import AiohttpTransport

    return AiohttpTransport(options)


__all__ = ["ErrorKind", "Request", "Transport", "TransportOptions", "classify_os_error",
           "make_transport"]
