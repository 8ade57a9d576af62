"""Scenarios, data, load shapes and live control, against real servers on loopback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from aiohttp import web

from loadnb import Run, make_spec
from loadnb.engine.vuser import VirtualUser
from tests.conftest import until
from tests.servers import Action, RawHTTPServer

ROOT = Path(__file__).resolve().parents[2]


async def test_weights_are_honoured(demo_url: str) -> None:
    async def browse(user: VirtualUser) -> None:
        await user.get("/", name="browse")

    async def buy(user: VirtualUser) -> None:
        await user.get("/", name="buy")

    run = Run(make_spec(demo_url, scenario={browse: 3, buy: 1}, users=4, requests=800, seed=1))
    result = await run.run()
    counts = result.stats.set_index("name")["requests"]
    assert counts.sum() == 800
    share = counts["browse"] / 800
    assert abs(share - 0.75) < 0.07, share  # 4.5 standard deviations of a binomial at n=800


async def test_a_journey_with_checks_state_grouping_and_data(demo_url: str) -> None:
    rows = pd.DataFrame({"name": [f"widget-{i}" for i in range(6)]})

    async def journey(user: VirtualUser) -> None:
        if "id" not in user.state:  # once per user: create an item, keep its id
            made = await user.post("/api/items", json={"name": user.data["name"]},
                                   expect_status=201, expect_json={"name": user.data["name"]})
            user.state["id"] = made.json()["id"]
        await user.get("/api/items", expect_status=200, check=lambda r: len(r.json()) > 0)
        await user.get(f"/api/items/{user.state['id']}", name="/api/items/{id}",
                       expect_json={"id": user.state["id"]})

    run = Run(make_spec(demo_url, scenario=journey, users=3, duration=1.0, data=rows))
    result = await run.run()
    stats = result.stats.set_index("name")
    assert stats.loc["POST /api/items", "completed"] == 3  # state kept across iterations
    assert stats.loc["/api/items/{id}", "completed"] > 10
    assert stats.loc["GET /api/items", "failed"] == 0
    assert set(result.errors.kind) <= set()
    assert len(stats) == 3  # dynamic ids grouped under one name


async def test_failing_checks_are_counted_and_classified(demo_url: str) -> None:
    def has_magic(resp: object) -> bool:
        return False

    async def journey(user: VirtualUser) -> None:
        await user.get("/", name="named", check=has_magic)
        await user.get("/", name="lambda", check=lambda r: r.text == "nope")
        await user.get("/api/items/1", name="json", expect_json={"id": 999})
        await user.get("/status/404", name="status")
        await user.get("/status/404", name="expected-404", expect_status=404)

    result = await Run(make_spec(demo_url, scenario=journey, users=1, requests=25)).run()
    errors = dict(zip(result.errors.name, result.errors.kind, strict=True))
    assert errors == {"named": "check failed: has_magic", "lambda": "check failed: check 1",
                      "json": "check failed: json id", "status": "HTTP 404"}
    stats = result.stats.set_index("name")
    assert stats.loc["expected-404", "completed"] == 5 and stats["failed"].sum() == 20


async def test_exceptions_in_scenario_code_fail_the_iteration_not_the_run(demo_url: str) -> None:
    async def flaky(user: VirtualUser) -> None:
        await user.get("/", name="before")
        if user.iteration % 2 == 0:
            raise KeyError("missing")
        await user.get("/", name="after")

    run = Run(make_spec(demo_url, scenario=flaky, users=2, duration=0.6))
    result = await run.run()
    assert result.state == "done"
    t = result.totals
    failed = result.summary["iterations"]["flaky"]["failed"]
    assert "flaky" not in t and failed > 0  # a failed iteration, not a request
    # Every iteration ran "before"; then it either raised or ran "after" (or, for at most one
    # iteration per user, the run ended between the two requests).
    cut_short = t["before"].completed - (t["after"].completed + failed)
    assert 0 <= cut_short <= 2
    err = result.errors.set_index("name").loc["flaky"]
    assert err["kind"] == "exception: KeyError"
    assert "Traceback" in err["sample"] and "raise KeyError" in err["sample"]


async def test_cookies_are_kept_per_user() -> None:
    async def login(request: web.Request) -> web.Response:
        resp = web.Response(text="in")
        resp.set_cookie("session", request.query["who"])
        return resp

    async def me(request: web.Request) -> web.Response:
        who = request.cookies.get("session")
        return web.Response(text=who or "", status=200 if who else 401)

    app = web.Application()
    app.router.add_get("/login", login)
    app.router.add_get("/me", me)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def journey(user: VirtualUser) -> None:
        if not user.cookies:
            await user.get(f"/login?who=u{user.index}", name="login")
        await user.get("/me", name="me", check=lambda r: r.text == f"u{user.index}")

    try:
        result = await Run(make_spec(f"http://127.0.0.1:{port}", scenario=journey, users=3,
                                     requests=30)).run()
    finally:
        await runner.cleanup()
    stats = result.stats.set_index("name")
    assert stats.loc["login", "completed"] == 3
    assert stats.loc["me", "completed"] == 27 and stats.loc["me", "failed"] == 0


async def test_data_rows_once_end_the_run_when_used_up(demo_url: str) -> None:
    seen: list[str] = []

    async def journey(user: VirtualUser) -> None:
        seen.append(user.data["sku"])
        await user.get("/", name="item")

    rows = [{"sku": f"s{i}"} for i in range(7)]
    run = Run(make_spec(demo_url, scenario=journey, users=2, duration=10, data=rows,
                        data_mode="once"))
    result = await run.run()
    assert sorted(seen) == sorted(r["sku"] for r in rows)
    assert result.summary["duration_s"] < 5  # ended with its rows, long before its 10 s


async def test_open_model_scenario_iterations_follow_the_rate(demo_url: str) -> None:
    async def hit(user: VirtualUser) -> None:
        await user.get("/", name="hit")
        await user.get("/api/items", name="list")

    result = await Run(make_spec(demo_url, scenario=hit, rate=100, duration=1.0)).run()
    stats = result.stats.set_index("name")
    assert abs(stats.loc["hit", "requests"] - 100) <= 3
    # every iteration makes both requests, but for those the end of the run cut between the two
    # (a second request is refused after the duration): the few in flight then, more on a busy
    # machine, at most the last 0.1 s of arrivals
    hit, listed = stats.loc["hit", "requests"], stats.loc["list", "requests"]
    assert 0 <= hit - listed <= 10, (hit, listed)


async def test_stages_reach_each_target_within_one_interval() -> None:
    stages = [(0.01, 3), (0.6, 3), (0.01, 8), (0.6, 8), (0.01, 2), (0.6, 2)]
    with RawHTTPServer(lambda i: Action(delay=0.005)) as server:
        run = Run(make_spec(server.url, stages=stages, interval=0.1))
        await run.run()
    snaps = run.snapshots
    for i, snap in enumerate(snaps):
        if snap.phase != "running":
            continue
        since = i  # the first of the snapshots up to this one with the same target
        while since > 0 and snaps[since - 1].target_users == snap.target_users:
            since -= 1
        # the target has held for a whole interval (by the snapshots' clock: a late tick and an
        # on-time one can come close together): it must be reached
        if snap.elapsed_time - snaps[since].elapsed_time >= 0.1:
            assert snap.active_users == snap.target_users, (snap.elapsed_time, snap.active_users)
    targets = {s.target_users for s in run.snapshots if s.phase == "running"}
    assert {3, 8, 2} <= targets
    assert 1.83 - 0.1 <= run.result.summary["duration_s"] < 1.83 + 3  # the stages' length


async def test_rate_stages_deliver_the_integral_of_the_rate() -> None:
    with RawHTTPServer() as server:
        run = Run(make_spec(server.url, rate_stages=[(1, 100), (1, 100), (0.5, 0)]))
        result = await run.run()
    assert abs(server.received - 175) <= 3, server.received  # 50 up, 100 held, 25 down
    assert result.summary["total_requests"] == server.received
    assert result.df.target_rate.max() == pytest.approx(100, abs=5)


@pytest.mark.parametrize("model", ["users", "rate"])
async def test_live_changes_take_effect_within_one_interval(model: str) -> None:
    with RawHTTPServer(lambda i: Action(delay=0.01)) as server:
        spec = (make_spec(server.url, users=2, duration=2, interval=0.2) if model == "users"
                else make_spec(server.url, rate=50, duration=2, interval=0.2))
        run = Run(spec)
        run.start()
        await until(lambda: len(run.snapshots) >= 4)
        if model == "users":
            run.set_users(6)
        else:
            run.set_rate(250)
        result = await run.wait()
    snaps = result.snapshots
    marked = [i for i, s in enumerate(snaps) if s.event]
    assert len(marked) == 1 and "set to" in snaps[marked[0]].event
    after = [s for s in snaps[marked[0] + 1:] if s.phase == "running"]
    assert after, "the run ended too soon after the change"
    if model == "users":
        assert all(s.active_users == 6 for s in after)
        # the pool grows with the users: nobody waits for a connection
        assert server.connections >= 6 and max(s.waiting_for_connection for s in snaps) == 0
    else:
        # the new rate from the next interval on, delivered over those intervals together (a
        # busy machine's stalled interval is caught up in the next: arrivals keep their times)
        assert all(s.target_rate == 250 for s in after), [s.target_rate for s in after]
        span = after[-1].elapsed_time - snaps[marked[0]].elapsed_time
        delivered = sum(s.interval_requests for s in after) / span
        assert abs(delivered - 250) < 50, [s.current_rps for s in after]


def test_bad_plans_are_refused_before_anything_starts() -> None:
    async def ok(user: VirtualUser) -> None:
        await user.get("/")

    def not_async(user: VirtualUser) -> None: ...

    url = "http://127.0.0.1:9/"
    cases = [
        (dict(stages=[(1, 5)], duration=3), "define the duration"),
        (dict(stages=[(1, 5)], ramp_up=1), "define the duration"),
        (dict(stages=[(1, 5)], rate=3), "don't pass rate"),
        (dict(rate_stages=[(1, 5)], users=3), "don't pass users"),
        (dict(stages=[(1, -5)]), "a target must be a number >= 0"),
        (dict(stages=[(1, 0)]), "at least one stage needs a target above 0"),
        (dict(stages=[(1, 5)], shape=lambda t: 1), "give one of"),
        (dict(scenario=not_async), "is not an async function"),
        (dict(scenario={ok: 0}), "must be a number > 0"),
        (dict(scenario=ok, data=5), "data must be a DataFrame"),
        (dict(data=[1, 2]), "data feeds a scenario"),
        (dict(scenario=ok, data=[1], data_mode="shuffle"), "data_mode must be one of"),
        (dict(scenario=ok, transport="fast"), "scenarios use aiohttp"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            make_spec(url, **kwargs)  # type: ignore[arg-type]


def test_data_files_are_read_by_the_python_api_as_by_the_cli(tmp_path: Path) -> None:
    async def ok(user: VirtualUser) -> None:
        await user.get("/")

    url = "http://127.0.0.1:9/"
    (tmp_path / "rows.csv").write_text("name,qty\nal,1\nbo,2\n", encoding="utf-8-sig")
    (tmp_path / "rows.jsonl").write_text('{"name": "al", "qty": 1}\n{"name": "bo", "qty": 2}\n',
                                         encoding="utf-8")
    spec = make_spec(url, scenario=ok, data=tmp_path / "rows.csv")
    assert spec.data_rows == ({"name": "al", "qty": "1"}, {"name": "bo", "qty": "2"})
    spec = make_spec(url, scenario=ok, data=str(tmp_path / "rows.jsonl"), data_mode="once")
    assert spec.data_rows == ({"name": "al", "qty": 1}, {"name": "bo", "qty": 2})
    (tmp_path / "bad.jsonl").write_text('{"name": "al"}\n"bo"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"^data .*bad.jsonl': line 2 is a JSON string, not an"):
        make_spec(url, scenario=ok, data=tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match=r"^data .*rows.txt': must end in .csv, .jsonl or"):
        make_spec(url, scenario=ok, data=tmp_path / "rows.txt")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadnb", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_cli_scenario_file(demo_url: str, tmp_path: Path) -> None:
    path = tmp_path / "journeys.py"
    path.write_text(textwrap.dedent("""
        async def browse(user):
            await user.get("/api/items", name="list")

        async def home(user):
            await user.get("/", name="home")

        mix = {browse: 1, home: 1}

        def plain(user):
            return None
    """))
    done = cli("run", demo_url, "--scenario", f"{path}:mix", "--users", "2", "--requests", "40",
               "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    import json

    summary = json.loads(done.stdout)
    assert summary["total_requests"] == 40 and summary["parameters"]["scenario"] == [
        "browse", "home"]
    for ref, message in [(f"{tmp_path}/nope.py:mix", "no such file"),
                         (f"{path}:missing", "has no 'missing'"),
                         (f"{path}:plain", "is not an async function"),
                         (str(path), "expected path/to/file.py:name")]:
        bad = cli("run", demo_url, "--scenario", ref, "--requests", "1")
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    staged = cli("run", demo_url, "--stage", "0.3s:2", "--stage", "0.3s:4", "--json", "--quiet")
    assert staged.returncode == 0, staged.stderr
    assert 0.5 < json.loads(staged.stdout)["duration_s"] < 5  # the stages' 0.6 s, not 10 s


async def test_a_live_change_right_after_start_applies_once_the_run_begins() -> None:
    with RawHTTPServer(lambda i: Action(delay=0.01)) as server:
        run = Run(make_spec(server.url, users=2, duration=0.6, interval=0.2))
        run.start()
        run.set_users(5)
        result = await run.wait()
    with pytest.raises(RuntimeError, match="live changes need a running run"):
        run.set_users(3)
    assert max(s.active_users for s in result.snapshots) == 5
    assert result.snapshots[0].event == "set to 5 users"
