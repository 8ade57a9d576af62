"""The event-stream parser against the WHATWG rules, fed in every chunking."""

from __future__ import annotations

import pytest

from loadnb.engine.sse import Event, EventParser

STREAM = (b"\xef\xbb\xbf: a comment\n"
          b"data: first\n\n"
          b"event: tick\r\ndata: two\r\ndata:  lines\r\nid: 7\r\n\r\n"
          b"data\rretry: 1500\rretry: soon\r\r"
          b"id: 8\x00\ndata: keeps id 7\nunknown: field\n\n"
          b"event: only-a-type\n\n"
          b"id:\ndata: \xc3\xa9t\xc3\xa9\n\n"
          b"data: never ended")
EXPECTED = [
    Event("first"),
    Event("two\n lines", "tick", "7"),
    Event("", "message", "7", 1500),
    Event("keeps id 7", "message", "7", 1500),
    Event("été", "message", "", 1500),
]


def test_a_stream_in_one_chunk() -> None:
    assert EventParser().feed(STREAM) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_any_chunking_gives_the_same_events(size: int) -> None:
    parser = EventParser()
    out = []
    for i in range(0, len(STREAM), size):
        out.extend(parser.feed(STREAM[i:i + size]))
    assert out == EXPECTED


def test_a_cr_at_a_chunk_end_waits_for_a_possible_lf() -> None:
    parser = EventParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []  # CRLF is one line end, not two: no blank line yet
    assert parser.feed(b"\r\n") == [Event("a")]


def test_every_split_point_of_every_line_end() -> None:
    text = b"data: x\r\n\r\ndata: y\r\rdata: z\n\n"
    for cut in range(len(text) + 1):
        parser = EventParser()
        events = parser.feed(text[:cut]) + parser.feed(text[cut:])
        assert [e.data for e in events] == ["x", "y", "z"], cut
