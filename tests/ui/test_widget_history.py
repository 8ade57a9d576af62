"""The widget's History tab (past runs of the target) and its compare overlay, without a browser.

Each test keeps its runs in its own history file (``history=`` on the LoadTest); runs go against
the demo server on 127.0.0.1, bounded in time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadnb.charts.axes import drawn_rates
from loadnb.ui import LoadTest
from loadnb.ui import history_tab as history_module
from loadnb.ui.history_tab import HISTORY_TAB, OFF_TEXT

FAST: dict[str, Any] = {"interval": 0.1, "graceful_stop": 1}
BASE_TABS = ["Overview", "Latency", "Errors", "Summary", "Generator"]


def show_history(test: LoadTest) -> None:
    test.views.selected_index = 1  # what clicking the History tab does


def overlay_rows(test: LoadTest) -> dict[str, int]:
    return {name: len(source.data["elapsed_time"])
            for name, source in test.dashboard.compare.sources.items()}


async def test_history_lists_runs_and_compare_overlays_the_chosen_one(
        demo_url: str, tmp_path: Path) -> None:
    where = tmp_path / "h.sqlite"
    test = LoadTest(demo_url, users=2, duration=0.4, history=str(where), **FAST)
    tab = test.history
    assert test.views.titles == ("Dashboard", HISTORY_TAB)
    assert [getattr(t, "title", None) for t in test.dashboard.layout.tabs] == BASE_TABS
    first = await test.run()
    second = await test.run()
    assert tab.reads == 0 and tab.runs == []  # never shown: nothing read
    show_history(test)
    assert tab.reads == 1
    assert [r["run_id"] for r in tab.runs] == [second.run_id, first.run_id]  # newest first
    assert first.run_id in tab.table.value and second.run_id in tab.table.value
    assert "Started at" in tab.table.value and "p99 ms" in tab.table.value
    assert [v for _, v in tab.choice.options] == [second.run_id, first.run_id]
    assert not tab.compare_button.disabled and tab.clear_button.disabled
    # choose the first run and press Compare: the overlay holds its df
    tab.choice.value = first.run_id
    tab.compare_button.click()
    overlay = test.dashboard.compare
    assert overlay.run_id == first.run_id and first.run_id in overlay.label
    assert overlay.label.startswith(f"compare: {first.run_id} (")
    df = first.df
    ov, lat = overlay.sources["overview"].data, overlay.sources["latency"].data
    assert ov["elapsed_time"] == pytest.approx(df.elapsed_time.tolist())
    assert ov["current_rps"] == pytest.approx(drawn_rates(  # the final, partial interval: NaN
        df.elapsed_time.tolist(), df.current_rps.tolist(), df.phase.tolist()), nan_ok=True)
    assert lat["p99_ms"] == pytest.approx(df.p99_ms.tolist(), nan_ok=True)
    assert lat["p50_ms"] == pytest.approx(df.p50_ms.tolist(), nan_ok=True)
    assert all(r.visible for r in overlay.renderers)
    assert all(i.visible and i.label.value == overlay.label for i in overlay.items)  # type: ignore[union-attr]
    assert not tab.clear_button.disabled and overlay.label in tab.compare_status.value
    rows = len(df)
    # a new run keeps the overlay, and the list follows at its end
    third = await test.run()
    assert overlay_rows(test) == {"overview": rows, "latency": rows}
    assert overlay.run_id == first.run_id and all(r.visible for r in overlay.renderers)
    assert [r["run_id"] for r in tab.runs] == [third.run_id, second.run_id, first.run_id]
    assert tab.choice.value == first.run_id  # the choice is kept
    # Clear empties it
    tab.clear_button.click()
    assert overlay_rows(test) == {"overview": 0, "latency": 0}
    assert overlay.run_id is None and not any(r.visible for r in overlay.renderers)
    assert not any(i.visible for i in overlay.items) and tab.clear_button.disabled


async def test_only_runs_of_the_same_target_are_listed(demo_url: str, tmp_path: Path) -> None:
    where = str(tmp_path / "h.sqlite")
    other = LoadTest(demo_url + "health", users=1, duration=0.2, history=where, **FAST)
    await other.run()
    test = LoadTest(demo_url, users=1, duration=0.2, history=where, **FAST)
    show_history(test)
    assert test.history.runs == [] and "No run of" in test.history.message.value
    assert test.history.compare_button.disabled
    result = await test.run()  # shown once: listed again at the end of the run
    assert [r["run_id"] for r in test.history.runs] == [result.run_id]


def test_history_off_says_so_and_reads_nothing(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    def no_reading(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the history was read")

    monkeypatch.setattr(history_module, "list_runs", no_reading)
    monkeypatch.setattr(history_module, "load", no_reading)
    cases: list[tuple[dict[str, Any], str | None]] = [({"history": "off"}, None), ({}, "off")]
    for kwargs, env in cases:
        if env is not None:
            monkeypatch.setenv("LOADNB_HISTORY", env)
        test = LoadTest("http://127.0.0.1:9/", users=1, duration=1, **kwargs)
        show_history(test)
        tab = test.history
        assert "The history is off" in tab.message.value and tab.table.value == ""
        assert tab.controls.layout.display == "none"
        assert tab.compare("abc") is False and tab.reads == 0
        assert overlay_rows(test) == {"overview": 0, "latency": 0}
        assert "\n" not in OFF_TEXT  # one line


def test_reading_errors_are_shown_in_the_tab(tmp_path: Path) -> None:
    where = tmp_path / "broken.sqlite"
    where.write_bytes(b"this is not a database" * 100)
    test = LoadTest("http://127.0.0.1:9/", users=1, duration=1, history=str(where))
    show_history(test)  # no exception
    assert "Reading the history failed" in test.history.message.value
    assert test.history.compare("abc") is False
    assert "Comparing failed" in test.history.compare_status.value
    assert test.dashboard.compare.run_id is None


def test_nothing_is_read_before_the_tab_is_shown(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    calls: list[Any] = []

    def listing(*args: Any, **_kwargs: Any) -> list[Any]:
        calls.append(args)
        return []

    monkeypatch.setattr(history_module, "list_runs", listing)
    test = LoadTest("http://127.0.0.1:9/", users=1, duration=1,
                    history=str(tmp_path / "h.sqlite"))
    test.history.run_ended()  # the end of a run, tab never shown
    assert calls == [] and not (tmp_path / "h.sqlite").exists()
    show_history(test)
    assert len(calls) == 1
