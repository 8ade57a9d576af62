"""How bytes reach the server: one seam (:class:`Transport`) between the engine and the wire."""

from .base import ErrorKind, Request, Transport, TransportOptions, classify_os_error


def make_transport(options: TransportOptions) -> Transport:
    """The transport ``options`` ask for; ``"auto"`` takes the fast one whenever it can run the
    test (a plain target-URL test it supports).

    ``http2`` takes the HTTP/2 transport (h2 by ALPN, h2c over http://); TLS and connection
    controls the fast transport lacks (``cacert``, ``cert``, ``connect_to``) take it through the
    shared connector. Imports are local so a run only loads the client it uses.
    """
    if options.http2:
        from .h2 import H2Transport

        return H2Transport(options)
    if options.kind != "aiohttp" and options.plain:
        from .fast import FastTransport
        from .wire import fast_supported

        reason = fast_supported(options)
        if reason is None:
            from .h1 import RoutedFastTransport, needs_routing

            return RoutedFastTransport(options) if needs_routing(options) else FastTransport(
                options)
        if options.kind == "fast":
            raise ValueError(f"transport='fast' cannot run this test: {reason}")
    from .aio import AiohttpTransport

    return AiohttpTransport(options)


__all__ = ["ErrorKind", "Request", "Transport", "TransportOptions", "classify_os_error",
           "make_transport"]
