"""Connections opened in an interval (or a run): how many, their TCP connect and TLS handshake
times, and the protocol they speak — plain, mergeable data that travels in the
:class:`~loadnb.metrics.payload.Payload` beside the request stats.

The transports that open their own sockets measure each connection
(``transport.tls.ConnectTiming``); the source adds them here at each tick
(:meth:`ConnectStats.add`), the monitor turns an interval's into the snapshot's ``connect_*`` /
``tls_*`` columns and the run's into ``summary["connections"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .histogram import Histogram

#: The order of protocols when sources disagree: the first one any source speaks wins.
PROTOCOLS = ("h2", "h2c", "http/1.1")


@dataclass(slots=True)
class ConnectStats:
    """``opened`` connections; ``connect`` their TCP connect times and ``tls`` their TLS
    handshakes (seconds; empty in cleartext); ``protocol`` what the run speaks (``h2``, ``h2c``,
    ``http/1.1``; ``""`` while unknown)."""

    opened: int = 0
    connect: Histogram = field(default_factory=Histogram)
    tls: Histogram = field(default_factory=Histogram)
    protocol: str = ""

    def add(self, timings: list[tuple[float, float, bool]]) -> None:
        """Add connections as ``(connect_s, tls_s, over_tls)``."""
        if not timings:
            return
        self.opened += len(timings)
        self.connect.add_seconds(np.array([t[0] for t in timings], dtype=np.float64))
        tls = [t[1] for t in timings if t[2]]
        if tls:
            self.tls.add_seconds(np.array(tls, dtype=np.float64))

    def merge(self, other: ConnectStats) -> None:
        """Add ``other`` (another source's, or a later interval's)."""
        self.opened += other.opened
        self.connect.merge(other.connect)
        self.tls.merge(other.tls)
        self.protocol = pick_protocol(self.protocol, other.protocol)


def pick_protocol(mine: str, theirs: str) -> str:
    """One protocol for two: a known one over ``""``, h2 over the HTTP/1.1 fall-back (a run whose
    sources disagree reports what was asked for and says so in its warnings)."""
    if not mine or not theirs:
        return mine or theirs
    rank = {p: i for i, p in enumerate(PROTOCOLS)}
    return min(mine, theirs, key=lambda p: rank.get(p, len(PROTOCOLS)))


__all__ = ["PROTOCOLS", "ConnectStats", "pick_protocol"]
