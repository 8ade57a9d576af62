"""The widget's state badge: the run's state in words and colour beside the progress bar, so a
browser without an emoji font still reads it (the metrics line keeps the brief's emoji).
Checked on the ipywidgets state, without a browser, against a local server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator

import ipywidgets as W
import pytest
from aiohttp import web

from loadnb.results.words import STATES
from loadnb.ui import LoadTest
from loadnb.ui.formatting import badge_html
from tests.conftest import until

FAST = {"interval": 0.1, "graceful_stop": 1}


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def ok(_: web.Request) -> web.Response:
        await asyncio.sleep(0.002)
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    await runner.cleanup()


def shown(test: LoadTest) -> tuple[str, str]:
    """The badge's text and background colour, as the page gets them."""
    value = test.state_badge.value
    text = re.search(r">([^<]*)</span>", value)
    color = re.search(r"background:(#[0-9a-f]{6})", value)
    assert text and color, value
    return html.unescape(text.group(1)), color.group(1)


def test_every_state_has_a_plain_text_badge_with_its_own_colour() -> None:
    assert set(STATES) == {"idle", "running", "stopping", "done", "stopped", "failed"}
    for state, words in STATES.items():
        text, color = words.badge, words.colour
        value = badge_html(state)
        assert f">{text}</span>" in value and f"background:{color}" in value
        assert text.isascii() and text.isupper()  # no emoji needed to read it
    colors = {w.colour for w in STATES.values()}
    assert len(colors) >= 5  # done, failed, running, idle differ; stopping/stopped may share
    assert "FAILED" in badge_html("failed") and "#b00020" in badge_html("failed")
    assert ">WEIRD<" in badge_html("weird")  # an unknown state still shows, in words


def test_the_badge_sits_beside_the_progress_bar_and_says_ready() -> None:
    test = LoadTest("http://127.0.0.1:9/", users=2, duration="5s")
    bars = [c for c in test.children if isinstance(c, W.HBox) and test.progress in c.children]
    assert len(bars) == 1 and bars[0].children == (test.progress, test.state_badge)
    assert shown(test) == ("READY", STATES["idle"].colour)
    assert "⏸" in test.metrics.value  # the live line keeps its emoji


async def test_the_badge_follows_a_run_running_stopping_stopped(server: str) -> None:
    test = LoadTest(server, users=2, duration=30, **FAST)
    test.start()
    result = test.result
    assert result is not None
    await until(lambda: len(result.snapshots) >= 2)
    assert shown(test) == ("RUNNING", STATES["running"].colour)
    seen: list[str] = []
    test.state_badge.observe(lambda change: seen.append(change["new"]), "value")
    test.stop_button.click()
    await asyncio.wait_for(test.wait(), 5)
    assert shown(test) == ("STOPPED", STATES["stopped"].colour)
    texts = [re.search(r">([^<]*)</span>", v).group(1) for v in seen]  # type: ignore[union-attr]
    assert texts == ["STOPPING", "STOPPED"], texts


async def test_the_badge_says_done_at_the_end_and_running_again_on_restart(server: str) -> None:
    test = LoadTest(server, users=2, duration=0.4, **FAST)
    await asyncio.wait_for(test.run(), 10)
    assert shown(test) == ("DONE", STATES["done"].colour)
    test.start()
    assert shown(test)[0] == "RUNNING"
    await asyncio.wait_for(test.wait(), 10)
    assert shown(test)[0] == "DONE"


def test_a_value_set_from_code_gets_the_forms_message_not_a_trait_error() -> None:
    test = LoadTest("http://127.0.0.1:9/", users=2, duration="3s")
    for field, bad, message in (("duration", "abc", "duration must be a number of seconds"),
                                ("users", "x", "users must be a whole number"),
                                ("rate", "abc", "rate must be a number")):
        widget = getattr(test.controls, field)
        before = widget.value
        widget.value = bad  # typed in code: no TraitError into the kernel
        assert widget.value == before
        assert test.controls.error is not None and message in test.controls.error, field
        assert message in test.controls.errors[field].value
    test.controls.duration.value = 5
    assert test.controls.error is None and test.spec.duration == 5.0
