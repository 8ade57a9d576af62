"""The report's protocol rows (protocol, connections, connect and TLS-handshake percentiles) and
its message-streams table, from real runs against the demo server."""

from __future__ import annotations

import re
from typing import Any

from loadnb.record.summary import Summary
from loadnb.results.report import render
from loadnb.results.result import Result
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from loadnb.text.numbers import trimmed
from tests.results.test_report import synthetic


def row(text: str, label: str) -> list[str] | None:
    """The cells after ``label`` of the table row that starts with ``label`` (None: no row)."""
    match = re.search(rf"<tr><td>{re.escape(label)}</td>((?:<td>[^<]*</td>)+)</tr>", text)
    return re.findall(r"<td>([^<]*)</td>", match.group(1)) if match else None


class Reshaped:
    """A run as the report reads it, with its summary changed (a ``Reportable``)."""

    def __init__(self, result: Result, summary: Summary) -> None:
        self.run_id, self.summary = result.run_id, summary
        self.df, self.stats, self.alerts, self.custom = (
            result.df, result.stats, result.alerts, result.custom)


async def test_report_shows_protocol_and_connect_percentiles(demo_url: str) -> None:
    result = await Run(make_spec(demo_url, users=2, requests=40, history="off")).run()
    s = result.summary
    assert s["protocol"] == "http/1.1" and s["connections"]["opened"] == 2
    text = render([result])
    assert row(text, "protocol") == ["http/1.1"]
    assert row(text, "connections opened") == ["2"]
    connect = s["connections"]["connect_ms"]
    assert row(text, "connect p50 (ms)") == [trimmed(connect["p50"])]
    assert row(text, "connect p95 (ms)") == [trimmed(connect["p95"])]
    assert row(text, "TLS handshake p50 (ms)") is None  # cleartext: nothing measured
    assert "Message streams" not in text  # a run without streams has no such table

    tls: Any = dict(s)
    tls["connections"] = {**s["connections"], "tls_ms": {**s["connections"]["tls_ms"],
                                                         "p50": 4.25, "p95": 9.5}}
    both = render([Reshaped(result, tls), synthetic(10)])
    assert row(both, "TLS handshake p50 (ms)") == ["4.25", "—"]
    assert row(both, "TLS handshake p95 (ms)") == ["9.5", "—"]


def test_a_run_that_timed_no_connection_has_no_connection_rows() -> None:
    text = render([synthetic(10)])
    assert row(text, "connections opened") is None and row(text, "connect p50 (ms)") is None
    assert row(text, "protocol") is not None


async def echo_chat(url: str) -> Result:
    """A run of 6 WebSocket chats (2 users), 3 request–reply pairs each, on the demo's echo."""
    async def chat(user: Any) -> None:
        async with user.websocket("/ws/echo", name="echo") as ws:
            for i in range(3):
                await ws.request(f"hello {i}")

    return await Run(make_spec(url, scenario=chat, users=2, requests=6, interval=0.1,
                               history="off")).run()


async def test_report_has_a_table_of_the_message_streams(demo_url: str) -> None:
    result = await echo_chat(demo_url)
    echo = result.summary["messages"]["echo"]
    text = render([result])
    head = re.search(r"<caption>Message streams[^<]*</caption><thead><tr>(.*?)</tr>", text)
    assert head and re.findall(r"<th>([^<]*)</th>", head.group(1)) == [
        "stream", "kind", "opened", "failed", "closed", "sent", "received", "p50_ms", "p95_ms",
        "p99_ms"]
    assert row(text, "echo") == ["ws", "6", "0", "6", "18", "18",
                                 *(trimmed(echo[k]) for k in ("p50_ms", "p95_ms", "p99_ms"))]
