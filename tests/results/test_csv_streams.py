"""The CSV export of a run with message streams (WebSocket, SSE) has a ``messages`` table
(``result.messages``, one row per interval and stream); a run without streams writes the files
it always wrote, and no ``messages`` table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from loadnb.results.export import CSV_STREAM_TABLES, CSV_TABLES, csv_paths
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.streams import echo_then_feed


async def test_a_run_with_streams_writes_its_messages_table(demo_url: str,
                                                            tmp_path: Path) -> None:
    # One user: its budget of 8 is 4 echoes and 4 feeds in turn (two users split the last ones
    # as their timing falls: 5 echoes and 3 feeds on a CI run)
    result = await Run(make_spec(demo_url, scenario=echo_then_feed(3), users=1, requests=8,
                                 interval=0.1, history="off")).run()
    assert {k: v["received"] for k, v in result.summary["messages"].items()} == {
        "echo": 4, "feed": 12}
    beside, folder = result.to_csv(tmp_path / "x.csv"), result.to_csv(tmp_path / "folder")
    assert CSV_STREAM_TABLES == ("messages",)
    for written in (tmp_path / "x_messages.csv", folder / "messages.csv"):
        table = pd.read_csv(written)
        pd.testing.assert_frame_equal(table, result.messages, check_dtype=False)
        assert table.groupby("name")["received"].sum().to_dict() == {"echo": 4, "feed": 12}
    assert csv_paths(beside)["messages"] == tmp_path / "x_messages.csv"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{t}.csv" for t in (*CSV_TABLES, *CSV_STREAM_TABLES)] + ["summary.json"])


async def test_a_run_without_streams_writes_no_messages_table(demo_url: str,
                                                              tmp_path: Path) -> None:
    result = await Run(make_spec(demo_url, users=1, requests=5, history="off")).run()
    assert result.summary["messages"] == {}
    folder = result.to_csv(tmp_path / "folder")
    result.to_csv(tmp_path / "x.csv")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{t}.csv" for t in CSV_TABLES] + ["summary.json"])
    assert not (tmp_path / "x_messages.csv").exists()
