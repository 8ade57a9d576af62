"""Thresholds on message streams (WebSocket, SSE): ``messages_received[feed]>1000``,
``connections_failed[echo]<1``, and a latency stat on a stream's name, ``p95[echo]<50ms``
(the request–reply latency of ``ws.request``).

The counts of every stream, or of the one named between the brackets::

    messages_sent | messages_received          (messages, each way)
    connections | connections_failed           (connections opened; attempts that failed)

>>> from loadnb.metrics.messages import MessageStats
>>> message_value({"feed": MessageStats("feed", "sse", received=7)}, "messages_received", None)
7.0
"""

from __future__ import annotations

from collections.abc import Mapping

from ..metrics.messages import MessageStats

#: Count stats of message streams (see the module docstring).
MESSAGE_STATS = ("messages_sent", "messages_received", "connections", "connections_failed")
_FIELDS = {"messages_sent": "sent", "messages_received": "received", "connections": "opened",
           "connections_failed": "failed"}


def message_value(streams: Mapping[str, MessageStats], stat: str,
                  name: str | None) -> float | None:
    """The count ``stat`` of every stream of ``streams`` or of stream ``name`` (None: no such
    stream, or no stream at all)."""
    parts = list(streams.values()) if name is None else (
        [streams[name]] if name in streams else [])
    if not parts:
        return None
    key = _FIELDS[stat]
    return float(sum(getattr(p, key) for p in parts))


def reply_value(stream: MessageStats, percentile: float) -> float | None:
    """A request–reply latency of ``stream`` in ms: the ``percentile`` (-1: the mean); None
    before its first reply."""
    if stream.reply.total == 0:
        return None
    if percentile < 0:
        return stream.reply.mean * 1e3
    return stream.reply.percentile(percentile) * 1e3


__all__ = ["MESSAGE_STATS", "message_value", "reply_value"]
