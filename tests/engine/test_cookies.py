"""The per-user cookie jar: RFC 6265 domain, path, expiry and Secure rules, and a real scenario.

Host names here are ``localhost`` and its subdomains (RFC 6761: they are loopback); the jar is
driven by URL strings and sends nothing; the integration test runs against an aiohttp server on
127.0.0.1.
"""

from __future__ import annotations

from email.utils import formatdate

import pytest
from aiohttp import web

import loadnb
from loadnb.engine.cookies import CookieJar, default_path, domain_match, path_match
from loadnb.engine.vuser import VirtualUser

BASE = "http://127.0.0.1:8000"


def at(host: str, port: int | None = None, path: str = "/") -> str:
    """A URL on ``host`` (a subdomain of localhost: loopback, RFC 6761), for the jar alone: no
    request is ever sent to it."""
    return f"http://{host}{'' if port is None else f':{port}'}{path}"
T0 = 1_700_000_000.0


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def jar_with(*set_cookies: str, url: str = BASE + "/", clock: FakeClock | None = None) -> CookieJar:
    jar = CookieJar(clock=clock or FakeClock())
    jar.update(set_cookies, url)
    return jar


@pytest.mark.parametrize(("request_path", "cookie_path", "matches"), [
    ("/a", "/a", True), ("/a/x", "/a", True), ("/a/", "/a", True), ("/a/x/y", "/a/", True),
    ("/ab", "/a", False), ("/b", "/a", False), ("/", "/a", False), ("/anything", "/", True),
])
def test_path_match(request_path: str, cookie_path: str, matches: bool) -> None:
    assert path_match(request_path, cookie_path) is matches


@pytest.mark.parametrize(("request_path", "expected"), [
    ("", "/"), ("/", "/"), ("/login", "/"), ("/a/login", "/a"), ("/a/b/", "/a/b"), ("x", "/"),
])
def test_default_path(request_path: str, expected: str) -> None:
    assert default_path(request_path) == expected


@pytest.mark.parametrize(("host", "domain", "matches"), [
    ("localhost", "localhost", True), ("api.localhost", "localhost", True),
    ("a.api.localhost", "localhost", True), ("xlocalhost", "localhost", False),
    ("localhost", "api.localhost", False), ("127.0.0.1", "127.0.0.1", True),
    ("127.0.0.1", "0.0.1", False),
])
def test_domain_match(host: str, domain: str, matches: bool) -> None:
    assert domain_match(host, domain) is matches


def test_a_cookie_goes_only_to_its_path() -> None:
    jar = jar_with("sid=abc; Path=/a", url=BASE + "/login")
    assert jar.header_for(BASE + "/a") == "sid=abc"
    assert jar.header_for(BASE + "/a/x?q=1") == "sid=abc"
    for other in ("/", "/b", "/ab", "/b/a"):
        assert jar.header_for(BASE + other) is None


def test_without_path_the_default_path_is_the_request_directory() -> None:
    jar = jar_with("deep=1", url=BASE + "/shop/cart")
    assert jar.header_for(BASE + "/shop/item") == "deep=1"
    assert jar.header_for(BASE + "/other") is None
    assert jar_with("top=1; Path=relative", url=BASE + "/login").header_for(BASE + "/x") == "top=1"


def test_host_only_and_domain_cookies() -> None:
    jar = CookieJar(clock=FakeClock())
    jar.update(["host=1", "wide=2; Domain=.LocalHost"], at('api.localhost', 8000))
    assert jar.header_for(at('api.localhost', 8000)) == "host=1; wide=2"
    assert jar.header_for(at('localhost', 8000)) == "wide=2"
    assert jar.header_for(at('other.localhost', 9000)) == "wide=2"
    assert jar.header_for(at('a.api.localhost')) == "wide=2"  # host-only: not subdomains
    assert jar.header_for("http://127.0.0.1:8000/") is None
    dot = jar_with("dot=1; Domain=.", url=at('api.localhost'))
    assert dot.header_for(at('api.localhost')) == "dot=1"
    assert dot.header_for(at('localhost')) is None


def test_a_domain_the_host_does_not_match_is_refused() -> None:
    jar = CookieJar(clock=FakeClock())
    jar.update(["a=1; Domain=other.localhost", "b=2; Domain=a.api.localhost"],
               at('api.localhost'))
    jar.update(["c=3; Domain=0.0.1"], BASE + "/")
    assert len(jar) == 0


def test_secure_cookies_go_over_https_only() -> None:
    jar = jar_with("s=1; Secure", "p=2", url="https://127.0.0.1:8443/")
    assert jar.header_for("https://127.0.0.1:8443/x") == "s=1; p=2"
    assert jar.header_for("http://127.0.0.1:8000/x") == "p=2"


def test_max_age_and_expires_with_a_fake_clock() -> None:
    clock = FakeClock()
    jar = CookieJar(clock=clock)
    later = formatdate(T0 + 60, usegmt=True)
    jar.update(["short=1; Max-Age=10", f"dated=2; Expires={later}",
                f"both=3; Max-Age=5; Expires={later}", "session=4"], BASE + "/")
    assert dict(jar.as_dict()) == {"short": "1", "dated": "2", "both": "3", "session": "4"}
    clock.now = T0 + 5  # Max-Age wins over Expires
    assert set(jar.as_dict()) == {"short", "dated", "session"}
    clock.now = T0 + 10
    assert set(jar.as_dict()) == {"dated", "session"}
    clock.now = T0 + 60
    assert jar.header_for(BASE + "/") == "session=4"
    assert len(jar) == 1


def test_max_age_zero_or_a_past_expiry_deletes_the_cookie() -> None:
    jar = jar_with("a=1", "b=2", "c=3", "d=4; Path=/d")
    jar.update(["a=gone; Max-Age=0", "b=gone; Max-Age=-1",
                f"c=gone; Expires={formatdate(T0 - 1, usegmt=True)}",
                "d=gone; Max-Age=0"], BASE + "/")  # d: another path, so another cookie
    assert jar.header_for(BASE + "/d/x") == "d=4"
    assert dict(jar.as_dict()) == {"d": "4"}


def test_bad_expiry_attributes_are_ignored() -> None:
    clock = FakeClock()
    jar = jar_with("a=1; Max-Age=ten; Expires=someday", "b=2; Max-Age=+5", clock=clock)
    clock.now = T0 + 10**6
    assert dict(jar.as_dict()) == {"a": "1", "b": "2"}  # still session cookies


def test_longest_path_first_then_oldest_and_replacing_keeps_the_place() -> None:
    jar = jar_with("first=1; Path=/", "second=2; Path=/", "deep=3; Path=/a/b", "mid=4; Path=/a")
    jar.update(["first=new; Path=/"], BASE + "/")
    assert jar.header_for(BASE + "/a/b/c") == "deep=3; mid=4; first=new; second=2"


def test_malformed_set_cookie_is_ignored_and_values_kept_verbatim() -> None:
    jar = jar_with("novalue", "=anon", "ctl=a\x01b", 'quoted="a b"; Priority=High; Partitioned',
                   "eq=a=b; SameSite=Lax; HttpOnly")
    assert dict(jar.as_dict()) == {"quoted": '"a b"', "eq": "a=b"}


def test_the_jar_holds_a_bounded_number_of_cookies() -> None:
    jar = CookieJar(clock=FakeClock(), max_cookies=3)
    jar.update([f"c{i}={i}" for i in range(5)], BASE + "/")
    assert list(jar.as_dict()) == ["c2", "c3", "c4"]


def test_values_never_show_in_reprs_and_the_view_is_read_only() -> None:
    jar = jar_with("sid=SECRET-VALUE")
    assert "SECRET" not in repr(jar) and "SECRET" not in repr(list(jar))
    view = jar.as_dict()
    with pytest.raises(TypeError):
        view["sid"] = "x"  # type: ignore[index]
    jar.clear()
    assert len(jar) == 0 and jar.header_for(BASE + "/") is None


async def test_a_scenario_sends_a_path_cookie_only_under_its_path() -> None:
    secret = "SECRET-cookie-7f3a"
    seen: dict[str, list[str | None]] = {"/a/x": [], "/b": []}

    async def login(request: web.Request) -> web.Response:
        resp = web.Response(text="in")
        resp.set_cookie("sid", secret, path="/a")
        return resp

    async def echo(request: web.Request) -> web.Response:
        seen[request.path].append(request.headers.get("Cookie"))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/login", login)
    app.router.add_get("/a/x", echo)
    app.router.add_get("/b", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    held: list[dict[str, str]] = []

    async def journey(user: VirtualUser) -> None:
        if "sid" not in user.cookies:
            await user.get("/login", name="login")
        held.append(dict(user.cookies))
        await user.get("/a/x", name="a")
        await user.get("/b", name="b", expect_status=201)  # fails: an error sample is kept

    try:
        result = await loadnb.arun(journey, url=f"http://127.0.0.1:{port}", users=1,
                                   requests=7, duration=2)
    finally:
        await runner.cleanup()
    assert seen == {"/a/x": [f"sid={secret}"] * 3, "/b": [None] * 3}
    assert held == [{"sid": secret}] * 3
    stats = result.stats.set_index("name")
    assert stats.loc["b", "failed"] == 3
    shown = repr(result.summary) + result.errors.to_csv() + result.stats.to_csv()
    assert secret not in shown
