"""LoadSpec validation: one clear ValueError for each bad input, before anything starts."""

from __future__ import annotations

import math

import pytest

from loadnb.spec.config import make_spec
from loadnb.text.redact import redact_headers, redact_url
from loadnb.text.units import parse_duration

URL = "http://127.0.0.1:8000/"


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), (" 1.5 ", 1.5), (7, 7.0),
    (0.25, 0.25), ("10", 10.0), ("2min", 120.0),
])
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["banana", "-3s", "3 parsecs", "", math.inf, True, None])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"url": "not-a-url"}, "invalid URL 'not-a-url': expected http:// or https://"),
    ({"url": "ftp://127.0.0.1/x"}, "expected http:// or https:// (got ftp://)"),
    ({"url": "http:///nohost"}, "no host"),
    ({"url": URL, "users": -3}, "users must be at least 1, got -3"),
    ({"url": URL, "users": 2.5}, "users must be a whole number"),
    ({"url": URL, "duration": "banana"}, "duration must be a number of seconds"),
    ({"url": URL, "duration": 0}, "duration must be greater than 0"),
    ({"url": URL, "users": 5, "rate": 10}, "either users (closed model) or rate (open model)"),
    ({"url": URL, "rate": 0}, "rate must be greater than 0"),
    ({"url": URL, "timeout": "0s"}, "timeout must be greater than 0"),
    ({"url": URL, "method": "FETCH"}, "method must be one of"),
    ({"url": URL, "headers": {"Bad Name": "x"}}, "invalid header name"),
    ({"url": URL, "headers": {"X": "a\r\nInjected: 1"}}, "must be text on one line"),
    ({"url": URL, "headers": ["NoColon"]}, "expected 'Name: value'"),
    ({"url": URL, "expect_status": 999}, "HTTP status codes"),
    ({"url": URL, "interval": "1ms"}, "interval must be between"),
    ({"url": URL, "duration": 5, "ramp_up": 10}, "ramp_up (10s) is longer than the duration"),
    ({"url": URL, "requests": 0}, "requests must be at least 1"),
    ({"url": URL, "max_in_flight": -1}, "max_in_flight must be at least 1"),
    ({"url": URL, "data_mode": "bogus"}, "data_mode must be one of cycle, once, random"),
])
def test_bad_input_is_one_clear_error(kwargs: dict[str, object], message: str) -> None:
    url = kwargs.pop("url")
    with pytest.raises(ValueError) as info:
        make_spec(url, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_defaults_follow_the_design() -> None:
    spec = make_spec(URL)
    assert (spec.users, spec.duration, spec.timeout, spec.interval) == (10, 10.0, 10.0, 0.5)
    assert spec.model == "closed" and spec.rate is None and spec.requests is None
    assert spec.request_name == "GET /"
    open_spec = make_spec(URL, rate="200", duration="1m", requests=50)  # type: ignore[arg-type]
    assert open_spec.model == "open" and open_spec.duration == 60 and open_spec.requests == 50
    assert make_spec(URL, requests=5).duration is None


def test_status_rules() -> None:
    assert make_spec(URL).is_success(302) and not make_spec(URL).is_success(404)
    spec = make_spec(URL, expect_status=[200, "404"])  # type: ignore[list-item]
    assert spec.is_success(404) and not spec.is_success(201)


def test_secrets_are_redacted_in_public_params() -> None:
    spec = make_spec(URL, headers={"Authorization": "Bearer SECRET", "Cookie": "s=1",
                                   "X-Plain": "v"})
    text = repr(spec.public_params())
    assert "SECRET" not in text and "s=1" not in text and "'X-Plain': 'v'" in text
    basic = make_spec("http://bob:hunter%32@127.0.0.1:8000/x", headers={"X-Plain": "v"})
    assert basic.url == "http://127.0.0.1:8000/x"
    assert basic.headers["Authorization"] == "Basic Ym9iOmh1bnRlcjI="  # bob:hunter2
    assert "hunter" not in repr(basic.public_params())
    with pytest.raises(ValueError, match="either in the URL or in an Authorization header"):
        make_spec("http://bob:x@127.0.0.1/", headers={"authorization": "Bearer y"})
    assert redact_url(URL) == URL
    assert redact_headers({"authorization": "x"}) == {"authorization": "***"}


def test_redaction_has_one_home() -> None:
    from loadnb.metrics import stats
    from loadnb.text import redact

    assert stats.redact_text is redact.redact_text  # the recorder redacts samples with it
    assert redact.redact_text("GET http://bob:pw@127.0.0.1/ failed") == (
        "GET http://bob:***@127.0.0.1/ failed")


def test_split_credentials_moves_them_into_a_basic_header() -> None:
    from loadnb.text.redact import split_credentials

    headers: dict[str, str] = {}
    assert split_credentials("http://bob:hunter%32@127.0.0.1:8000/x?q=1", headers) == (
        "http://127.0.0.1:8000/x?q=1")
    assert headers == {"Authorization": "Basic Ym9iOmh1bnRlcjI="}
    plain: dict[str, str] = {}
    assert split_credentials(URL, plain) == URL and plain == {}


def test_replace_round_trips_every_kind_of_plan() -> None:
    async def task(user: object) -> None:
        return None

    specs = [
        make_spec("http://127.0.0.1:9/", users=3, duration="2s", ramp_up="1s"),
        make_spec("http://127.0.0.1:9/", rate=50, duration="2s"),
        make_spec("http://127.0.0.1:9/", stages=[("1s", 5), ("1s", 0)]),
        make_spec("http://127.0.0.1:9/", rate_stages=[("1s", 50)]),
        make_spec("http://127.0.0.1:9/", shape=lambda t: 2, duration=3),
        make_spec("http://127.0.0.1:9/", rate_shape=lambda t: 20, duration=3),
        make_spec(scenario=task, data=[{"a": 1}, {"a": 2}], data_mode="once", users=2),
        make_spec(url="http://127.0.0.1:9/", scenario={task: 2}, users=2,
                  thresholds=["p95<1s"], alerts=["p99<2s"], history="off"),
        make_spec("http://127.0.0.1:9/", users=2, think_time=("1s", "3s")),
        make_spec("http://127.0.0.1:9/", users=2, pacing="500ms"),
    ]
    for spec in specs:
        again = spec.replace(alerts=[])
        assert again.alerts == () and again.replace(alerts=spec.alerts) == spec


def test_think_time_ranges_and_pacing_are_checked() -> None:
    spec = make_spec("http://127.0.0.1:9/", users=2, think_time="100ms:300ms")
    assert (spec.think_time, spec.think_time_max) == (0.1, 0.3)
    assert spec.public_params()["think_time"] == [0.1, 0.3]
    assert make_spec("http://127.0.0.1:9/", think_time=(1, 1)).think_time_max == 1.0
    for bad, message in [({"think_time": (3, 1)}, "max is below its min"),
                         ({"think_time": (1, 2, 3)}, "a time or a \\(min, max\\) range"),
                         ({"think_time": "-1s:2s"}, "think_time"),
                         ({"pacing": "1s", "think_time": 1}, "either think_time or pacing"),
                         ({"pacing": "1s", "rate": 10}, "pacing applies to the closed model"),
                         ({"pacing": 0}, "pacing must be greater than 0")]:
        with pytest.raises(ValueError, match=message):
            make_spec("http://127.0.0.1:9/", **bad)
