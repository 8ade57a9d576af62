"""The HTTP/2 transport against a scripted h2c server (tests/h2server.py, on the ``h2`` library):
RST_STREAM and GOAWAY mid-run, request bodies under small flow-control windows, the server's
concurrency limit, stream ids used up, timeouts. Every stream is accounted: the server's counts
equal loadnb's, and started = completed + failed + cancelled per name."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from loadnb import Run, make_spec
from loadnb.record.accounting import check_accounting
from loadnb.results.result import Result
from loadnb.transport import TransportOptions
from loadnb.transport.h2 import H2Transport
from tests.conftest import until
from tests.h2server import H2Server


class Made:
    def __init__(self, max_stream_id: int = 2**31 - 1, **controls: Any) -> None:
        self.controls, self.max_stream_id = controls, max_stream_id
        self.transports: list[H2Transport] = []

    def __call__(self, options: TransportOptions) -> H2Transport:
        transport = H2Transport(replace(options, http2=True, **self.controls),
                                max_stream_id=self.max_stream_id)
        self.transports.append(transport)
        return transport


async def run(url: str, made: Made, **params: Any) -> Result:
    result = await Run(make_spec(url, history="off", **params), transport=made).run()
    check_accounting(result)
    return result


def summary(result: Result) -> tuple[int, int, dict[str, int]]:
    s = result.summary
    return s["completed_requests"], s["failed_requests"], dict(s["errors"])


def per_name(result: Result) -> dict[str, tuple[int, int, int, int]]:
    return {name: (t.started, t.completed, t.failed, t.cancelled)
            for name, t in result.record.totals.items()}


async def test_rst_stream_and_goaway_mid_run_every_stream_accounted() -> None:
    plan = {7: "rst", 19: "goaway", 30: "rst", 44: "goaway", 61: "rst"}
    with H2Server(lambda n: plan.get(n, "ok")) as server:
        result = await run(server.url, Made(streams=4), users=8, requests=200)
        counts = server.counts
    completed, failed, errors = summary(result)
    assert completed == counts.answered and completed + failed == 200
    assert errors.get("RST_STREAM INTERNAL_ERROR") == counts.reset == 3
    assert errors.get("GOAWAY NO_ERROR", 0) >= counts.refused >= 2
    assert set(errors) == {"RST_STREAM INTERNAL_ERROR", "GOAWAY NO_ERROR"}
    assert counts.connections >= 3  # each GOAWAY: the slots reconnect
    assert all(started == c + f + x for started, c, f, x in per_name(result).values())


async def test_open_model_with_resets_every_stream_accounted() -> None:
    with H2Server(lambda n: "rst" if n % 5 == 0 else "ok") as server:
        result = await run(server.url, Made(streams=8), rate=200, duration=1.0)
        counts = server.counts
    completed, failed, errors = summary(result)
    assert completed == counts.answered and failed == counts.reset
    assert errors == {"RST_STREAM INTERNAL_ERROR": counts.reset}


async def test_request_bodies_respect_small_windows_and_arrive_whole() -> None:
    body = bytes(range(256)) * 200  # 51,200 bytes against a 1,000-byte stream window
    with H2Server(window=1000) as server:
        result = await run(server.url, Made(streams=4), users=4, requests=20, method="POST",
                           body=body)
        counts = server.counts
    assert summary(result) == (20, 0, {})
    assert counts.bodies == [body] * 20


async def test_the_servers_concurrency_limit_is_kept() -> None:
    with H2Server(max_streams=2) as server:
        result = await run(server.url, Made(streams=10), users=10, requests=200)
        counts = server.counts
    assert summary(result) == (200, 0, {})
    assert counts.max_open <= 2 and counts.answered == 200


async def test_stream_ids_used_up_open_a_new_connection() -> None:
    with H2Server() as server:
        made = Made(streams=2, max_stream_id=21)  # 11 streams per connection
        result = await run(server.url, made, users=2, requests=110)
        counts = server.counts
    assert summary(result) == (110, 0, {})
    assert counts.connections >= 10 and counts.answered == 110


async def test_a_stream_never_answered_times_out_and_is_reset() -> None:
    # (not the last requests: one in flight as the run ends gets the grace, then is cancelled)
    with H2Server(lambda n: "silent" if n in (4, 8, 12, 16) else "ok") as server:
        result = await run(server.url, Made(streams=4), users=4, requests=30, timeout=0.5)
        await until(lambda: server.counts.cancelled_by_client >= 4, 2, what="4 RST_STREAMs")
        counts = server.counts
    completed, failed, errors = summary(result)
    assert completed == counts.answered == 26 and errors == {"timeout": 4}
    assert counts.cancelled_by_client == 4  # RST_STREAM CANCEL for each one given up
