"""How bytes reach the server: one seam (:class:`Transport`) between the engine and the wire."""

from .base import ErrorKind, Request, Transport, TransportOptions, classify_os_error


def make_transport(options: TransportOptions) -> Transport:
    """The transport ``options`` ask for; ``"auto"`` takes the fast one whenever it can run the
    test (a plain target-URL test it supports).

    ``http2`` takes the HTTP/2 transport (h2 by ALPN, h2c over http://; for a scenario, the
    scenario's HTTP/2 client, WebSocket and SSE on aiohttp). The fast transport opens
    its connections through the shared connector (:mod:`.tls`: ``cacert``, ``cert``/``key``,
    ``connect_to``, connect and TLS-handshake times measured). Imports are local so a run only
    loads the client it uses.
    """
    if options.http2 and not options.plain:  # a scenario: its requests as HTTP/2 streams
        from .h2scenario import H2ScenarioTransport

        return H2ScenarioTransport(options)
    if options.http2:
        from .h2 import H2Transport

        return H2Transport(options)
    if options.kind != "aiohttp" and options.plain:
        from .wire import fast_supported

        reason = fast_supported(options)
        if reason is None:  # through the connector: connect and TLS times measured
            from .h1 import RoutedFastTransport

            return RoutedFastTransport(options)
        if options.kind == "fast":
            raise ValueError(f"transport='fast' cannot run this test: {reason}")
    from .aio import AiohttpTransport

    return AiohttpTransport(options)


__all__ = ["ErrorKind", "Request", "Transport", "TransportOptions", "classify_os_error",
           "make_transport"]
