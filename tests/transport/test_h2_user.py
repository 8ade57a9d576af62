"""Scenarios over HTTP/2 (``http2=True`` with ``scenario=``) against the scripted h2c server
(tests/h2server.py, on the ``h2`` library): per-request method, path, query, headers and bodies
reach the server; cookies it sets come back; checks, redirects and failures (RST_STREAM, GOAWAY)
are counted per name exactly as on HTTP/1.1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from loadnb import Run, make_spec
from loadnb.cli import command as cli
from loadnb.engine.vuser import VirtualUser
from loadnb.observe.trace import parse_traceparent
from loadnb.record.accounting import check_accounting
from loadnb.results.result import Result
from tests.conftest import until
from tests.h2server import H2Server


async def run(url: str, task: Any, **params: Any) -> Result:
    spec = make_spec(url, scenario=task, http2=True, history="off", interval=0.2, **params)
    result = await Run(spec).run()
    check_accounting(result)
    return result


def per_name(result: Result) -> dict[str, tuple[int, int, int, int]]:
    return {name: (t.started, t.completed, t.failed, t.cancelled)
            for name, t in result.record.totals.items() if t.started}


async def test_requests_heads_bodies_cookies_and_checks_over_h2c() -> None:
    seen: list[tuple[str, str, str]] = []

    async def task(user: VirtualUser) -> None:
        r = await user.get("/items?x=1", name="list", headers={"X-Who": f"u{user.index}"},
                           check=("says OK", lambda r: r.text == "OK"))
        seen.append((r.text, r.headers["Content-Length"], r.headers["content-type"]))
        await user.post("/orders", name="order", json={"n": user.iteration},
                        params={"q": "a b"}, check=("later", lambda r: user.iteration > 1))

    cookie = (b"set-cookie", b"sid=abc; Path=/")
    with H2Server(headers=((b"content-type", b"text/plain"), cookie)) as server:
        result = await run(server.url, task, users=2, requests=20)
        counts = server.counts
    s = result.summary
    assert s["protocol"] == "h2c" and counts.requests == counts.answered == 20
    assert per_name(result) == {"list": (10, 10, 0, 0), "order": (10, 8, 2, 0)}
    assert s["errors"] == {"check failed: later": 2}  # each user's first iteration
    assert seen == [("OK", "2", "text/plain")] * 10
    heads = counts.heads
    gets = [h for h in heads if h[b":method"] == b"GET"]
    posts = [(h, body) for h, body in zip(heads, counts.bodies, strict=True)
             if h[b":method"] == b"POST"]
    assert {h[b":path"] for h in gets} == {b"/items?x=1"}
    assert {h[b"x-who"] for h in gets} == {b"u0", b"u1"}
    assert {h[b":path"] for h, _ in posts} == {b"/orders?q=a+b"}
    assert {h[b"content-type"] for h, _ in posts} == {b"application/json"}
    ns = [json.loads(body)["n"] for _, body in posts]
    assert len(ns) == 10 and ns.count(1) == 2 and set(ns) <= set(range(1, 10))
    assert all(int(h[b"content-length"]) == len(body) for h, body in posts)
    # each user's first request carries no cookie; every later one the server's
    assert sum(h.get(b"cookie") == b"sid=abc" for h in heads) == 20 - 2


async def test_a_followed_redirect_its_cookie_and_a_failing_status_over_h2c() -> None:
    got: list[tuple[int, str]] = []

    async def task(user: VirtualUser) -> None:
        r = await user.get("/moved", name="moved")
        got.append((r.status, r.text))
        await user.get("/missing", name="gone")

    with H2Server() as server:
        result = await run(server.url, task, users=1, requests=2, follow_redirects=True)
        paths = [h[b":path"] for h in server.counts.heads]
        cookies = [h.get(b"cookie") for h in server.counts.heads]
    assert per_name(result) == {"moved": (1, 1, 0, 0), "gone": (1, 0, 1, 0)}
    assert got == [(200, "OK")]
    assert paths == [b"/moved", b"/landed", b"/missing"]
    assert cookies == [None, None, b"hop=1"]  # the redirect's cookie kept by the user
    # a failing status's evidence: the HTTP/2 status line and the body's first bytes
    assert result.summary["error_samples"] == {"HTTP 404": "HTTP/2.0 404 Not Found\nnot here"}


async def test_a_redirect_to_another_origin_leaves_credentials_behind() -> None:
    async def task(user: VirtualUser) -> None:
        await user.get("/cross", name="away", headers={"Authorization": "Bearer s3cret",
                                                        "Cookie": "sid=s3cret", "X-Keep": "1"})

    with H2Server() as there, H2Server() as here:
        here.cross = f"{there.url.rstrip('/')}/landed".encode()
        result = await run(here.url, task, users=1, requests=1, follow_redirects=True)
        first, = here.counts.heads
        second, = there.counts.heads
    assert per_name(result) == {"away": (1, 1, 0, 0)}
    assert first[b"authorization"] == b"Bearer s3cret" and first[b"cookie"] == b"sid=s3cret"
    assert second[b":path"] == b"/landed" and second[b"x-keep"] == b"1"
    assert b"authorization" not in second and b"cookie" not in second, second


async def test_a_redirect_off_http2_is_sent_once_never_the_first_hop_again() -> None:
    async def task(user: VirtualUser) -> None:
        await user.post("/cross", name="buy", data=b"buy=1")

    with H2Server() as server:
        server.cross = b"ftp://127.0.0.1:9/nowhere"  # no HTTP: aiohttp's to refuse
        result = await run(server.url, task, users=1, requests=1, follow_redirects=True)
        bodies, connections = server.counts.bodies, server.counts.connections
    # the POST reached the server once, and was not sent again (over HTTP/1.1) after the hop
    assert bodies == [b"buy=1"] and connections == 1
    assert per_name(result) == {"buy": (1, 0, 1, 0)}


async def test_rst_stream_and_goaway_mid_scenario_every_request_accounted() -> None:
    plan = {5: "rst", 12: "goaway", 21: "rst", 30: "goaway"}

    async def task(user: VirtualUser) -> None:
        await user.get("/a", name="read")
        await user.post("/b", name="write", data=b"x" * 100)

    with H2Server(lambda n: plan.get(n, "ok")) as server:
        result = await run(server.url, task, users=3, streams=2, requests=60)
        counts = server.counts
    s = result.summary
    assert s["completed_requests"] == counts.answered
    assert s["completed_requests"] + s["failed_requests"] == 60
    assert s["errors"].get("RST_STREAM INTERNAL_ERROR") == counts.reset == 2
    assert s["errors"].get("GOAWAY NO_ERROR", 0) >= counts.refused >= 2
    assert set(s["errors"]) == {"RST_STREAM INTERNAL_ERROR", "GOAWAY NO_ERROR"}
    assert all(started == c + f + x for started, c, f, x in per_name(result).values())
    assert set(per_name(result)) == {"read", "write"}


async def test_open_model_scenario_over_h2c() -> None:
    async def task(user: VirtualUser) -> None:
        await user.get("/", name="home", expect_status=200)

    with H2Server() as server:
        result = await run(server.url, task, rate=200, requests=40, duration=5)
        answered = server.counts.answered
    assert result.summary["protocol"] == "h2c" and result.summary["model"] == "open"
    assert per_name(result) == {"home": (40, 40, 0, 0)} and answered == 40


async def test_trace_headers_on_every_request_of_an_http2_scenario() -> None:
    async def task(user: VirtualUser) -> None:
        await user.get("/a", name="a")
        await user.get("/b", name="b")

    with H2Server() as server:
        run_ = Run(make_spec(server.url, scenario=task, http2=True, trace=True, users=2,
                             requests=10, history="off"))
        await run_.run()
        heads = server.counts.heads
    parsed = [parse_traceparent(h.get(b"traceparent", b"").decode()) for h in heads]
    assert len(heads) == 10 and all(p is not None for p in parsed)
    paths: dict[str, list[bytes]] = {}
    for p, h in zip(parsed, heads, strict=True):
        assert p is not None
        paths.setdefault(p[0], []).append(h[b":path"])
    # one trace id per iteration (the budget may end one after its first request)
    assert all(got in ([b"/a", b"/b"], [b"/a"]) for got in paths.values())
    assert {h[b"tracestate"] for h in heads} == {f"loadnb={run_.run_id}".encode()}


def test_the_cli_runs_a_scenario_over_http2_and_refuses_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "journey.py"
    script.write_text("async def task(user):\n    await user.post('/p', name='p', json=[1])\n")
    scenario = ["--scenario", f"{script}:task", "--http2", "--no-history"]
    for args, message in [(["ws://127.0.0.1:9/"], "expected http:// or https://"),
                          (["http://127.0.0.1:9/", "--transport", "aiohttp"],
                           "drop transport='aiohttp'"),
                          (["http://127.0.0.1:9/", "--streams", "0"], "streams must be")]:
        code = cli.main(["run", *args, "-n", "5", *scenario])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, err
    with H2Server() as server:
        code = cli.main(["run", server.url, "-n", "6", "-u", "2", "--json", *scenario])
        bodies = server.counts.bodies
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["protocol"] == "h2c" and summary["completed_requests"] == 6
    assert bodies == [b"[1]"] * 6


async def test_stop_mid_scenario_cancels_the_streams_in_flight() -> None:
    async def task(user: VirtualUser) -> None:
        await user.get("/", name="first")
        await user.get("/silent", name="waits")

    with H2Server() as server:
        run_ = Run(make_spec(server.url, scenario=task, http2=True, users=4, duration=30,
                             history="off"))
        run_.start()
        await until(lambda: server.counts.requests == 8, 10, what="4 requests unanswered")
        run_.stop()
        result = await asyncio.wait_for(run_.wait(), 10)
        await until(lambda: server.counts.cancelled_by_client == 4, 5, what="streams reset")
    check_accounting(result)
    assert per_name(result) == {"first": (4, 4, 0, 0), "waits": (4, 0, 0, 4)}


async def test_a_redirect_to_an_origin_that_offers_no_h2_goes_on_over_http11_from_there() -> None:
    """The hop's origin falls back when its exchange finds no h2 by ALPN: that hop, not the
    first, goes to aiohttp (stand-in origins and aiohttp: nothing is sent)."""
    from contextlib import asynccontextmanager
    from types import SimpleNamespace

    from loadnb.transport.base import TransportOptions
    from loadnb.transport.h2scenario import H2ScenarioTransport
    from loadnb.transport.h2user import FellBack

    first, second = "http://127.0.0.1:9", "https://127.0.0.1:8"

    class Origin:
        fell_back = None

        def __init__(self, answer: Any) -> None:
            self.answer, self.sent = answer, 0

        async def exchange(self, method: str, url: str, headers: Any, body: bytes) -> Any:
            self.sent += 1
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    moved = SimpleNamespace(status=307, content=b"", fields=[
        (b":status", b"307"), (b"location", f"{second}/b".encode())])
    sent: list[tuple[str, str, bytes]] = []

    @asynccontextmanager
    async def aio_request(method: str, url: str, **kw: Any) -> Any:
        sent.append((method, url, kw["data"]))
        yield SimpleNamespace(status=200, history=(), reason="OK")

    transport = H2ScenarioTransport(TransportOptions(f"{first}/"))
    here, there = Origin(moved), Origin(FellBack("http/1.1"))
    transport.origins.update({first: here, second: there})  # type: ignore[dict-item]
    await transport.aio.aclose()
    transport.aio = SimpleNamespace(request=aio_request)  # type: ignore[assignment]
    async with transport.request("POST", f"{first}/a", data=b"buy=1") as response:
        assert response.status == 200 and [h.status for h in response.history] == [307]
    assert (here.sent, there.sent) == (1, 1)
    assert sent == [("POST", f"{second}/b", b"buy=1")]  # never the first hop again
