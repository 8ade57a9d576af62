"""``loadnb run --scenario FILE:TASK --data FILE [--data-mode MODE]``: scenario rows from the
terminal, as real subprocesses against a demo server of this module's own (``server``: its item
store then holds only what these tests made; ``url``: its counters reset)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.cli import test_cli
from tests.cli.test_cli import ENV, ROOT, server_stats

server = test_cli.server  # the fixtures, for this module: its own demo server (module scope),
url = test_cli.url  # and its URL with the counters reset

SCENARIO = textwrap.dedent("""
    async def buy(user):  # the README's task
        await user.post("/api/items", json={"name": user.data["name"]}, expect_status=201,
                        expect_json={"name": user.data["name"]})

    async def buy_row(user):  # the whole row as the body: JSON Lines keep their types
        await user.post("/api/items", json=user.data, expect_status=201, expect_json=user.data)
""")


def loadnb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadnb.cli", *args], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "journeys.py"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def items(url: str, prefix: str) -> list[dict[str, Any]]:
    """The items the demo server holds whose name starts with ``prefix``."""
    with urllib.request.urlopen(url + "api/items?limit=1000", timeout=5) as resp:
        every: list[dict[str, Any]] = json.load(resp)
    return [item for item in every if str(item.get("name", "")).startswith(prefix)]


def run_json(*args: str) -> dict[str, Any]:
    done = loadnb("run", *args, "--json", "--quiet", "--no-history")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def assert_every_iteration_passed(summary: dict[str, Any], task: str, n: int,
                                  url: str) -> None:
    assert summary["iterations"] == {task: {"iterations": n, "failed": 0}}, summary["iterations"]
    assert summary["completed_requests"] == summary["total_requests"] == n, summary
    assert summary["failed_requests"] == 0 and summary["errors"] == {}
    stats = server_stats(url)
    assert stats["by_path"] == {"/api/items": n} and stats["responses"] == {"201": n}, stats


def test_csv_rows_feed_every_iteration(url: str, scenario: Path, tmp_path: Path) -> None:
    names = [f"csv-{who}" for who in ("alice", "bob", "carol", "dan", "erin")]
    data = tmp_path / "buyers.csv"
    data.write_text("name,qty\n" + "".join(f"{n},{i}\n" for i, n in enumerate(names)),
                    encoding="utf-8")
    summary = run_json(url, "--scenario", f"{scenario}:buy", "--data", str(data),
                       "--users", "2", "--requests", "30")
    assert_every_iteration_passed(summary, "buy", 30, url)
    assert summary["parameters"]["data_rows"] == 5
    assert summary["parameters"]["data_mode"] == "cycle"
    made = Counter(item["name"] for item in items(url, "csv-"))
    assert made == dict.fromkeys(names, 6), made  # cycled: each row six times


def test_json_lines_rows_keep_their_types(url: str, scenario: Path, tmp_path: Path) -> None:
    rows = [{"name": f"jsonl-{i}", "qty": i, "tags": ["a", str(i)], "gift": i % 2 == 0}
            for i in range(4)]
    data = tmp_path / "buyers.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    summary = run_json(url, "--scenario", f"{scenario}:buy_row", "--data", str(data),
                       "--users", "3", "--requests", "12")
    assert_every_iteration_passed(summary, "buy_row", 12, url)
    made = items(url, "jsonl-")
    assert len(made) == 12
    assert all({k: v for k, v in item.items() if k != "id"} in rows for item in made), made

    ndjson = tmp_path / "buyers.ndjson"  # the other name of the same format
    ndjson.write_text(data.read_text(encoding="utf-8"), encoding="utf-8")
    summary = run_json(url, "--scenario", f"{scenario}:buy", "--data", str(ndjson),
                       "--users", "1", "--requests", "4")
    assert summary["iterations"] == {"buy": {"iterations": 4, "failed": 0}}


def test_data_mode_once_uses_each_row_once(url: str, scenario: Path, tmp_path: Path) -> None:
    names = [f"once-{i}" for i in range(7)]
    data = tmp_path / "once.csv"
    data.write_text("name\n" + "\n".join(names) + "\n", encoding="utf-8")
    summary = run_json(url, "--scenario", f"{scenario}:buy", "--data", str(data),
                       "--data-mode", "once", "--users", "2", "--duration", "30s")
    assert_every_iteration_passed(summary, "buy", 7, url)
    assert summary["parameters"]["data_mode"] == "once"
    assert summary["duration_s"] < 20  # the rows ran out: the run ended long before 30 s
    assert Counter(item["name"] for item in items(url, "once-")) == dict.fromkeys(names, 1)


#: file name (None: no --data), its content (None: no file), more arguments, the message
BAD_DATA: list[tuple[str | None, bytes | None, list[str], str]] = [
    ("missing.csv", None, [], "--data: cannot read"),
    ("empty.csv", b"", [], "is empty"),
    ("blank.csv", b"\n\n", [], "is empty"),
    ("header.csv", b"name,qty\n", [], "has a header but no rows"),
    ("ragged.csv", b"name,qty\nalice,1\nbob\n", [], "line 3 has 1 field"),
    ("nameless.csv", b"name,,qty\na,b,c\n", [], "empty column name"),
    ("twice.csv", b"name,name\na,b\n", [], "'name' twice"),
    ("latin1.csv", "name\ncafé\n".encode("latin-1"), [], "not UTF-8"),
    ("list.jsonl", b'{"name": "a"}\n[1, 2]\n', [], "line 2 is a JSON array, not an object"),
    ("text.jsonl", b'{"name": "a"}\nname=b\n', [], "line 2 is not JSON"),
    ("empty.ndjson", b"\n", [], "has no rows"),
    ("rows.txt", b"name\na\n", [], "must end in .csv, .jsonl or .ndjson"),
    ("ok.csv", b"name\na\n", ["--data-mode", "shuffle"],
     "argument --data-mode: invalid choice: 'shuffle'"),
    (None, None, ["--data-mode", "once"], "--data-mode needs --data"),
]


@pytest.mark.parametrize(("name", "content", "more", "message"), BAD_DATA,
                         ids=[f"{n}{' '.join(m)}" for n, _, m, _ in BAD_DATA])
def test_bad_data_is_one_line_exit_2_and_nothing_sent(
        url: str, scenario: Path, tmp_path: Path, name: str | None, content: bytes | None,
        more: list[str], message: str) -> None:
    args = ["run", url, "--scenario", f"{scenario}:buy", "--requests", "5", *more]
    if name is not None:
        if content is not None:
            (tmp_path / name).write_bytes(content)
        args += ["--data", str(tmp_path / name)]
    done = loadnb(*args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadnb: error: "), done.stderr
    assert message in lines[0], lines[0]
    assert server_stats(url)["requests"] == 0  # nothing sent


def test_data_needs_a_scenario_and_a_directory_is_no_file(url: str, scenario: Path,
                                                          tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("name\na\n", encoding="utf-8")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    for args, message in [([url, "--data", str(rows)], "--data feeds a scenario"),
                          ([url, "--scenario", f"{scenario}:buy", "--data", str(folder)],
                           "--data: cannot read")]:
        done = loadnb("run", *args, "--requests", "1")
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
        assert message in done.stderr, done.stderr
    assert server_stats(url)["requests"] == 0


def test_help_names_the_formats_and_the_modes() -> None:
    done = loadnb("run", "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for word in ("--data FILE", ".csv", ".jsonl", ".ndjson", "header",
                 "--data-mode {cycle,once,random}"):
        assert word in text, word
