"""``http2=True`` runs against a scripted h2c server (tests/h2server.py, on the ``h2`` library)
that sends RST_STREAM and GOAWAY mid-run: every stream accounted per name (started = completed
+ failed + cancelled), the server's counts equal loadnb's, the HTTP/2 failures are error kinds,
in the closed and the open model; the streams cap follows the server's SETTINGS."""

from __future__ import annotations

from typing import Any

from loadnb import Run, make_spec
from loadnb.record.accounting import check_accounting
from loadnb.results.result import Result
from tests.h2server import H2Server


async def run(url: str, **params: Any) -> Result:
    result = await Run(make_spec(url, http2=True, history="off", interval=0.2,
                                 **params)).run()
    check_accounting(result)
    return result


def per_name(result: Result) -> dict[str, tuple[int, int, int, int]]:
    return {name: (t.started, t.completed, t.failed, t.cancelled)
            for name, t in result.record.totals.items()}


async def test_rst_stream_and_goaway_mid_run_every_stream_accounted() -> None:
    plan = {5: "rst", 17: "goaway", 33: "rst", 48: "goaway", 70: "rst"}
    with H2Server(lambda n: plan.get(n, "ok")) as server:
        result = await run(server.url, streams=4, users=8, requests=150, name="feed")
        counts = server.counts
    s = result.summary
    assert per_name(result) == {"feed": (150, s["completed_requests"], s["failed_requests"], 0)}
    assert s["completed_requests"] == counts.answered
    assert s["errors"]["RST_STREAM INTERNAL_ERROR"] == counts.reset == 3
    assert s["errors"]["GOAWAY NO_ERROR"] == s["failed_requests"] - 3 >= 2
    assert set(s["errors"]) == {"RST_STREAM INTERNAL_ERROR", "GOAWAY NO_ERROR"}
    assert s["protocol"] == "h2c" and s["connections"]["opened"] == counts.connections >= 3


async def test_open_model_with_resets_every_stream_accounted() -> None:
    with H2Server(lambda n: "rst" if n % 4 == 0 else "ok") as server:
        result = await run(server.url, rate=150, duration=1.0)
        counts = server.counts
    s = result.summary
    (started, completed, failed, cancelled), = per_name(result).values()
    assert started == completed + failed + cancelled
    assert completed == counts.answered and failed == counts.reset > 0
    assert s["errors"] == {"RST_STREAM INTERNAL_ERROR": counts.reset}


async def test_streams_capped_by_the_servers_settings() -> None:
    with H2Server(max_streams=3) as server:
        result = await run(server.url, streams=50, connections=1, users=20, requests=200)
        counts = server.counts
    assert result.summary["completed_requests"] == 200 and counts.connections == 1
    assert counts.max_open <= 3  # never more open than the server allows
