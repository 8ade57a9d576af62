"""Message-stream counts: the hot-path accumulator, the swap per interval, connected."""

from __future__ import annotations

import pytest

from loadnb.metrics.messages import MessageBook, MessageStats, message_row
from loadnb.metrics.stats import Recorder


def test_a_connection_is_counted_open_then_closed_once() -> None:
    book = MessageBook()
    echo = book.for_name("echo", "ws")
    assert book.for_name("echo", "ws") is echo
    echo.open()
    echo.open()
    assert book.connected == 2
    echo.close(1000)
    echo.close(1011, "WS close 1011", "WS close 1011 internal error")
    assert book.connected == 0
    echo.fail("connect refused", "ClientConnectorError: refused")
    part = book.swap()["echo"]
    assert (part.opened, part.failed, part.closed) == (2, 1, 2)
    assert part.close_codes == {1000: 1, 1011: 1}
    assert part.errors == {"WS close 1011": 1, "connect refused": 1}
    assert part.samples["WS close 1011"] == "WS close 1011 internal error"
    assert book.swap() == {}  # nothing since


def test_messages_and_timings_become_histograms_at_the_swap() -> None:
    book = MessageBook()
    feed = book.for_name("feed", "sse")
    feed.open()
    feed.received += 3
    feed.bytes_received += 42
    feed.first_message.append(0.004)
    echo = book.for_name("echo", "ws")
    echo.sent, echo.received = 2, 2
    echo.reply.extend([0.010, 0.030])
    out = book.swap()
    assert out["feed"].received == 3 and out["feed"].first_message.total == 1
    assert out["echo"].reply.total == 2 and round(out["echo"].reply.max * 1e3) == 30
    row = dict(zip(("elapsed", "name", "kind"), message_row(1.0, out["echo"])[:3], strict=True))
    assert row == {"elapsed": 1.0, "name": "echo", "kind": "ws"}
    again = book.swap()
    assert "echo" not in again and "feed" not in again and book.connected == 1


def test_a_name_keeps_its_kind() -> None:
    book = MessageBook()
    book.for_name("x", "ws")
    with pytest.raises(ValueError, match="is a ws stream"):
        book.for_name("x", "sse")
    with pytest.raises(ValueError, match="stream kinds"):
        book.for_name("y", "mqtt")


def test_parts_merge_to_the_whole() -> None:
    a = MessageStats("echo", opened=2, sent=5, close_codes={1000: 1}, errors={"dropped": 1})
    b = MessageStats("echo", opened=1, received=4, close_codes={1000: 2, 1011: 1})
    a.merge(b)
    assert (a.opened, a.sent, a.received) == (3, 5, 4)
    assert a.close_codes == {1000: 3, 1011: 1} and a.errors == {"dropped": 1}


def test_the_recorder_has_one_book_and_the_source_carries_it() -> None:
    from loadnb.engine.source import LocalSource
    from tests.doubles import FakeClock

    recorder = Recorder()
    recorder.messages.for_name("echo", "ws").open()

    class Engine:  # an EngineProgress
        started = dropped = 0
        phase = "running"
        active_users = 1
        clock = FakeClock()

        def elapsed(self) -> float:
            return self.clock()

        def target_users(self, elapsed: float) -> int:
            return 1

        def target_rate(self, elapsed: float) -> float:
            return float("nan")

        def progress(self, elapsed: float) -> tuple[float, float]:
            return 0.0, float("nan")

        def take_events(self) -> list[tuple[float, str]]:
            return []

        def take_slowest(self) -> list[tuple[float, str, float, str]]:
            return []

        def take_send_lag(self) -> float:
            return float("nan")

    class Waiting:
        waiting = 0

    payload = LocalSource(Engine(), recorder, Waiting()).collect(final=False)
    assert payload.status.connected == 1 and payload.messages["echo"].opened == 1
