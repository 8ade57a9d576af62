"""Thresholds on message streams: counts per stream or all, and a stream's reply latency."""

from __future__ import annotations

import pytest

from loadnb.metrics.histogram import Histogram
from loadnb.metrics.messages import MessageStats
from loadnb.record.record import RunRecord
from loadnb.rules.thresholds import parse_threshold
from loadnb.runner.judge import IntervalView, RunView
from loadnb.spec.config import make_spec


def record() -> RunRecord:
    rec = RunRecord("r", make_spec("http://127.0.0.1:9/", history="off"))
    rec.messages = {
        "echo": MessageStats("echo", "ws", opened=4, failed=1, sent=40, received=40,
                             reply=Histogram.from_seconds([0.010] * 90 + [0.080] * 10)),
        "feed": MessageStats("feed", "sse", opened=2, received=1500)}
    rec.last_messages = {"feed": MessageStats("feed", "sse", received=12)}
    return rec


@pytest.mark.parametrize(("expr", "observed", "passed"), [
    ("messages_received[feed]>1000", 1500.0, True),
    ("messages_received>1600", 1540.0, False),
    ("messages_sent[echo]>=40", 40.0, True),
    ("connections<10", 6.0, True),
    ("connections_failed[echo]<1", 1.0, False),
    ("p95[echo]<50ms", 80.0, False),
    ("p50[echo]<50ms", 10.0, True),
    ("p95[feed]<50ms", None, False),          # no request-reply pairs: not observed
    ("messages_received[nothing]>0", None, False),
])
def test_stream_thresholds_on_the_run(expr: str, observed: float | None,
                                      passed: bool) -> None:
    t = parse_threshold(expr)
    value = t.observe(RunView(record()))
    assert (value if value is None else pytest.approx(value, rel=0.01)) == observed
    assert t.holds(value) is passed


def test_an_alert_rule_reads_the_last_interval() -> None:
    t = parse_threshold("messages_received[feed]>100")
    assert t.observe(IntervalView(record())) == 12.0


@pytest.mark.parametrize("expr", ["messages_received>5ms", "connections>2%",
                                  "messages_sent<-1"])
def test_bad_stream_thresholds_are_refused(expr: str) -> None:
    with pytest.raises(ValueError, match="threshold"):
        parse_threshold(expr)
