"""The widget's Server tab: the target's scraped series, one chart each, appearing with the run's
first value (a run that scrapes nothing never shows it)."""

from __future__ import annotations

from loadnb.ui import LoadTest
from loadnb.ui.server_tab import SERVER_TAB

COUNTER = 'server.demo_requests_total{path="/"}'


async def test_the_server_tab_draws_the_scraped_series(demo_url: str) -> None:
    test = LoadTest(url=demo_url, rate=100, duration=1.2, interval=0.2, graceful_stop=1,
                    scrape=[demo_url + "metrics"], history="off")
    tabs = [t.title for t in test.dashboard.layout.tabs]
    assert SERVER_TAB not in tabs
    result = await test.run()
    assert [t.title for t in test.dashboard.layout.tabs][-1] == SERVER_TAB
    source = test.dashboard.server.sources[COUNTER]
    frame = result.server[result.server.series == COUNTER]
    assert list(source.data["elapsed_time"]) == frame["elapsed_time"].tolist()
    assert list(source.data["last"]) == frame["value"].tolist()


async def test_no_server_tab_without_a_scrape(demo_url: str) -> None:
    test = LoadTest(url=demo_url, rate=50, duration=0.4, interval=0.2, graceful_stop=1,
                    history="off")
    await test.run()
    assert SERVER_TAB not in [t.title for t in test.dashboard.layout.tabs]
