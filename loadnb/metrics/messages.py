"""Message streams (WebSocket and server-sent events) counted per name, merged exactly.

:class:`MessageAccumulator` is the hot-path side (one per stream name, updated in place by a
scenario's :class:`~loadnb.engine.streams.WebSocket` or SSE stream); at each tick
:meth:`MessageBook.swap` turns every name's interval into a :class:`MessageStats`: plain,
mergeable data that travels like the request stats (sources, the run record, the history,
exports) through :mod:`~loadnb.metrics.codec`.

A connection is counted ``opened`` (or ``failed`` when it never opened), then ``closed`` once,
however it ended; ``close_codes`` counts the WebSocket close codes seen, and ``errors`` the
kinds of what went wrong (``connect refused``, ``HTTP 404``, ``WS close 1011``, ``dropped``).
``first_message`` holds, per connection, the seconds from its opening to its first message;
``reply`` the seconds of each request–reply pair (``ws.request(msg)``).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

import numpy as np

from ..text.redact import redact_text
from .histogram import Histogram

#: Kinds of message streams.
STREAM_KINDS = ("ws", "sse")
#: Characters kept of an error's sample.
SAMPLE_CHARS = 2000


@dataclass(slots=True)
class MessageStats:
    """One stream name's connections and messages over an interval (or a run)."""

    name: str
    kind: str = "ws"
    opened: int = 0
    failed: int = 0
    closed: int = 0
    sent: int = 0
    received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    close_codes: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    first_message: Histogram = field(default_factory=Histogram)
    reply: Histogram = field(default_factory=Histogram)

    def merge(self, other: MessageStats) -> None:
        """Add ``other`` (same name; another interval or process) into this one."""
        self.opened += other.opened
        self.failed += other.failed
        self.closed += other.closed
        self.sent += other.sent
        self.received += other.received
        self.bytes_sent += other.bytes_sent
        self.bytes_received += other.bytes_received
        for code, n in other.close_codes.items():
            self.close_codes[code] = self.close_codes.get(code, 0) + n
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        for kind, text in other.samples.items():
            self.samples.setdefault(kind, text)
        self.first_message.merge(other.first_message)
        self.reply.merge(other.reply)


class MessageAccumulator:
    """The hot-path accumulator of one stream name for the current interval: a few integer
    updates per message, one ``array('d')`` append per timing."""

    __slots__ = ("name", "kind", "opened", "failed", "closed", "sent", "received",
                 "bytes_sent", "bytes_received", "close_codes", "errors", "samples",
                 "first_message", "reply", "book")

    def __init__(self, name: str, kind: str, book: MessageBook) -> None:
        self.name, self.kind, self.book = name, kind, book
        self.opened = self.failed = self.closed = self.sent = self.received = 0
        self.bytes_sent = self.bytes_received = 0
        self.close_codes: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.samples: dict[str, str] = {}
        self.first_message: array[float] = array("d")
        self.reply: array[float] = array("d")

    def open(self) -> None:
        """A connection of this name opened (it is connected until :meth:`close`)."""
        self.opened += 1
        self.book.connected += 1

    def fail(self, kind: str, message: str) -> None:
        """A connection that never opened, failed as ``kind``."""
        self.failed += 1
        self.error(kind, message)

    def close(self, code: int | None = None, error: str | None = None,
              message: str = "") -> None:
        """A connection opened before ended (``code``: the WebSocket close code; ``error``: the
        kind, when it ended badly)."""
        self.closed += 1
        self.book.connected -= 1
        if code is not None:
            self.close_codes[code] = self.close_codes.get(code, 0) + 1
        if error is not None:
            self.error(error, message or error)

    def error(self, kind: str, message: str) -> None:
        """Count one error of ``kind`` (its first message of the interval kept as the sample)."""
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if kind not in self.samples:
            self.samples[kind] = redact_text(message)[:SAMPLE_CHARS]

    def take(self) -> MessageStats:
        """The interval so far as :class:`MessageStats`; the accumulator starts empty again."""
        first, reply = self.first_message, self.reply
        self.first_message, self.reply = array("d"), array("d")  # before numpy views the old
        out = MessageStats(self.name, self.kind, self.opened, self.failed, self.closed,
                           self.sent, self.received, self.bytes_sent, self.bytes_received,
                           self.close_codes, self.errors, self.samples)
        if first:
            out.first_message.add_seconds(np.frombuffer(first, dtype=np.float64))
        if reply:
            out.reply.add_seconds(np.frombuffer(reply, dtype=np.float64))
        self.opened = self.failed = self.closed = self.sent = self.received = 0
        self.bytes_sent = self.bytes_received = 0
        self.close_codes, self.errors, self.samples = {}, {}, {}
        return out

    @property
    def touched(self) -> bool:
        """Whether anything was counted since the last :meth:`take`."""
        return bool(self.opened or self.failed or self.closed or self.sent or self.received
                    or self.errors)


class MessageBook:
    """Every stream name's accumulator, and the connections open now (``connected``)."""

    def __init__(self) -> None:
        self._by_name: dict[str, MessageAccumulator] = {}
        self.connected = 0

    def for_name(self, name: str, kind: str) -> MessageAccumulator:
        """The accumulator of ``name`` (created on first use; the same for the whole run).
        Raises ``ValueError`` for a name already used by the other kind of stream."""
        acc = self._by_name.get(name)
        if acc is None:
            if kind not in STREAM_KINDS:
                raise ValueError(f"stream kinds are {', '.join(STREAM_KINDS)}, got {kind!r}")
            acc = self._by_name[name] = MessageAccumulator(name, kind, self)
        elif acc.kind != kind:
            raise ValueError(f"stream name {name!r} is a {acc.kind} stream, not {kind}")
        return acc

    def swap(self) -> dict[str, MessageStats]:
        """Close the current interval: one :class:`MessageStats` per name counted since the
        last swap."""
        return {name: acc.take() for name, acc in self._by_name.items() if acc.touched}


#: Columns of a message timeline row (:func:`message_row`; ``RunRecord.messages_timeline``).
MESSAGES_TIMELINE_COLUMNS: tuple[str, ...] = (
    "elapsed_time", "name", "kind", "opened", "failed", "closed", "sent", "received",
    "bytes_sent", "bytes_received", "first_message_p50_ms", "p50_ms", "p95_ms", "p99_ms")
_QS = (50, 95, 99)


def message_row(elapsed: float, stats: MessageStats) -> tuple[object, ...]:
    """One row of :data:`MESSAGES_TIMELINE_COLUMNS` for ``stats`` over an interval ending at
    ``elapsed`` (times in ms, NaN when the interval has none)."""
    first = stats.first_message.percentile(50) * 1e3 if stats.first_message.total else math.nan
    reply = ([v * 1e3 for v in stats.reply.percentiles(_QS)] if stats.reply.total
             else [math.nan] * len(_QS))
    return (elapsed, stats.name, stats.kind, stats.opened, stats.failed, stats.closed,
            stats.sent, stats.received, stats.bytes_sent, stats.bytes_received, first, *reply)


__all__ = ["MESSAGES_TIMELINE_COLUMNS", "STREAM_KINDS", "MessageAccumulator", "MessageBook",
           "MessageStats", "message_row"]
