"""Stopping a fast-transport run mid-body, and a pool waiter cancelled as it gets a connection."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator

import pandas  # noqa: F401 - imported up front: a first import inside a run would stall the loop
import pytest

from loadnb import Run, make_spec
from loadnb.transport.base import Request
from loadnb.transport.fast import FastTransport
from tests.conftest import until
from tests.transport.fast_helpers import (
    TRANSPORTS,
    RawServer,
    Seen,
    Step,
    check,
    head,
    open_fds,
    settle,
)


# -- stopping ---------------------------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts fds in /proc/self/fd")
@TRANSPORTS
async def test_stop_in_the_middle_of_a_slow_body_cancels_and_leaks_nothing(
        transport: str) -> None:
    sent: dict[int, int] = {}  # body bytes written, per request (the server's thread counts)

    def endless(n: int, seen: Seen) -> Iterator[Step]:
        yield head(Content_Length=10_000) + b"x"
        for _ in range(200):
            yield 0.02
            sent[n] = sent.get(n, 0) + 1
            yield b"x"

    with RawServer(endless) as server:
        baseline = open_fds()
        run_ = Run(make_spec(server.url(), users=4, duration=30, transport=transport))
        run_.start()
        assert await settle(lambda: server.received == 4)
        await until(lambda: len(sent) == 4 and min(sent.values()) >= 3, 5,
                    what="every body under way")  # in the middle of the bodies
        t0 = time.perf_counter()
        run_.stop()
        result = await run_.wait()
        took = time.perf_counter() - t0
        s = check(result)
        assert s["cancelled_requests"] == 4 == s["total_requests"] == server.received
        assert s["completed_requests"] == s["failed_requests"] == 0
        # cancelled at once (the counts), not after the bodies' 4 s; the bound catches a hang
        assert took < 3 and result.state == "stopped"
        assert await settle(lambda: server.open == 0), "the client did not close its connections"
        assert await settle(lambda: open_fds() == baseline), (open_fds(), baseline)


async def test_a_pool_waiter_cancelled_as_a_connection_is_handed_to_it() -> None:
    """connections < concurrency: a request waiting for a pooled connection is cancelled (stop)
    after the connection is handed to it but before it resumes. The cancel must win at once, and
    the connection must go back to the pool: neither used for a request nobody waits for, nor
    lost with its pool slot."""
    with RawServer() as server:
        spec = make_spec(server.url(), users=2, connections=1, transport="fast")
        transport = FastTransport(spec.transport_options())
        request = Request.of(spec.transport_options())
        try:
            async def first_then_cancel_second() -> tuple[int, int]:
                answer = await transport.send(request)  # _release hands the connection over...
                second.cancel()  # ...and this runs in the same step, before `second` resumes
                return answer

            first = asyncio.ensure_future(first_then_cancel_second())
            await asyncio.sleep(0)  # `first` takes the only pool slot
            second = asyncio.ensure_future(transport.send(request))
            assert await first == (200, 2)
            t0 = time.perf_counter()
            outcome = (await asyncio.gather(second, return_exceptions=True))[0]
            assert isinstance(outcome, asyncio.CancelledError), outcome
            assert time.perf_counter() - t0 < 2  # (a hang; the count below is the point)
            assert server.received == 1  # the cancelled request was not sent
            assert await asyncio.wait_for(transport.send(request), 1.0) == (200, 2)  # not lost
            assert server.received == 2 and server.connections == 1
        finally:
            await transport.aclose()
