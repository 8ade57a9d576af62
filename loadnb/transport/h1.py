"""The fast HTTP/1.1 transport with the TLS and connection controls of :mod:`.tls`: ``cacert``,
``cert``/``key``, ``connect_to``, and a :class:`~loadnb.transport.tls.ConnectTiming` per
connection. It is what every plain HTTP/1.1 run uses (:func:`~loadnb.transport.make_transport`),
and what the HTTP/2 transport falls back to when a TLS server does not offer h2.

It changes one thing of :class:`~loadnb.transport.fast.FastTransport`: how a connection is
opened (through a :class:`~loadnb.transport.tls.Connector`). Once the fast transport opens its
connections through a Connector itself, this class is no longer needed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from .base import TransportOptions
from .conn import CLOSED, IDLE, Conn
from .fast import FastTransport
from .tls import Connector, ConnectTiming

__all__ = ["RoutedFastTransport"]


class RoutedFastTransport(FastTransport):
    """:class:`FastTransport` opening its connections through a :class:`Connector` (offering only
    ``http/1.1`` by ALPN)."""

    def __init__(self, options: TransportOptions) -> None:
        super().__init__(replace(options, http2=False))
        self.connector = Connector(options, alpn=("http/1.1",))

    async def _open(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Conn:
        """Open a connection in the pool slot the caller holds (as FastTransport._open does)."""
        try:
            _, conn, _ = await self.connector.connect(
                lambda: Conn(self, self._payload, self._keepalive),
                deadline - time.monotonic())
        except BaseException:
            self.release_slot()
            raise
        if conn.state is CLOSED:  # lost before it was handed over: its slot is still ours
            self.release_slot()
        else:
            conn.state = IDLE
        return conn

    def take_timings(self) -> list[ConnectTiming]:
        """Connect and TLS-handshake times of the connections opened since the last call."""
        return self.connector.take_timings()
