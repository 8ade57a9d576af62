"""A parser of ``text/event-stream`` (server-sent events) as the WHATWG HTML standard says.

Bytes go in as they come (:meth:`EventParser.feed`), any chunking; whole events come out. Lines
end in CRLF, LF or CR; a line starting with ``:`` is a comment; ``field: value`` (one space after
the colon dropped) sets ``event``, appends to ``data`` (lines joined by LF), sets the last event
``id`` (kept for the next events; one with a NUL is ignored) or ``retry`` (digits only); other
fields are ignored. A blank line dispatches the event, unless its data is empty. A BOM at the
start is dropped; an event not ended by a blank line when the stream ends is not dispatched.

>>> p = EventParser()
>>> [(e.event, e.data, e.id) for e in p.feed(b"event: tick\\r\\ndata: a\\ndata:b\\nid: 7\\n\\n")]
[('tick', 'a\\nb', '7')]
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: ``data`` (its data lines joined by LF), ``event`` (its type,
    ``message`` unless the stream named one), ``id`` (the last event id so far, ``""`` if none)
    and ``retry`` (the reconnection time in ms the stream set last, if any)."""

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class EventParser:
    """Turns the bytes of an event stream into :class:`Event` objects (see the module
    docstring)."""

    __slots__ = ("_decoder", "_text", "_data", "_event", "_last_id", "_retry", "_started")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None
        self._started = False

    def feed(self, chunk: bytes) -> list[Event]:
        """The events completed by ``chunk``."""
        self._text += self._decoder.decode(chunk)
        if not self._started and self._text:
            self._started = True
            if self._text[0] == "\ufeff":
                self._text = self._text[1:]
        out: list[Event] = []
        pos = 0
        text = self._text
        while (end := _LINE_END.search(text, pos)) is not None:
            if end.group() == "\r" and end.end() == len(text):
                break  # a CR last: its LF may come in the next chunk
            event = self._line(text[pos:end.start()])
            if event is not None:
                out.append(event)
            pos = end.end()
        self._text = text[pos:]
        return out

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> Event | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return Event("\n".join(data), event or "message", self._last_id, self._retry)


__all__ = ["Event", "EventParser"]
