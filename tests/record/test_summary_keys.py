"""The summary's keys, pinned: every level of ``Result.summary`` and of ``loadnb run --json``
against a golden list, and the TypedDicts of :mod:`loadnb.record.summary` against the same list
(so the type cannot drift from the data); summaries read back (``summary_of``, an export and a
history written before the typed summary) have the same keys.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from loadnb.history.reader import list_runs, load
from loadnb.record import summary_parts
from loadnb.record.record import RunRecord
from loadnb.record.summary import (
    QUANTILE_KEYS,
    AlertEntry,
    ConnectionsEntry,
    Parameters,
    Quantiles,
    Summary,
    ThresholdEntry,
    Versions,
    build_summary,
    empty_summary,
    summary_of,
)
from loadnb.results.export import read
from loadnb.results.result import Result
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec
from tests.fixtures.make_export_r1 import crash, shop
from tests.streams import echo_then_feed

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parents[1] / "fixtures"

# -- the golden lists (in the order the summary has them) ------------------------------------
TOP = ["run_id", "url", "target", "state", "started_at", "duration_s", "startup_s",
       "startup_cpu_s", "model",
       "transport", "protocol", "workers", "workers_lost", "total_requests", "completed_requests",
       "failed_requests", "cancelled_requests", "success_rate", "avg_rps", "peak_rps",
       "dropped_arrivals", "users_started", "bytes_received", "latency_basis", "latency_ms",
       "service_ms", "connections", "status_codes", "stats", "errors", "error_samples", "checks",
       "iterations", "alerts", "thresholds", "aborted_by", "custom", "messages", "generator",
       "warnings", "error", "parameters", "versions"]
NESTED = {
    "latency_ms": ["p50", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean"],
    "service_ms": ["p50", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean"],
    "connections": ["opened", "connect_ms", "tls_ms"],
    "connections.connect_ms": ["p50", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean"],
    "connections.tls_ms": ["p50", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean"],
    "stats[]": ["name", "requests", "failed", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms"],
    "users_started": ["max_active", "asked"],
    "checks{}": ["passes", "fails"],
    "iterations{}": ["iterations", "failed"],
    "alerts[]": ["rule", "message", "fired_at", "cleared_at"],
    "thresholds[]": ["expr", "observed", "passed"],
    "custom{counter}": ["kind", "count", "total", "rate"],
    "custom{gauge}": ["kind", "count", "last", "min", "max"],
    "custom{timing}": ["kind", "count", "p50", "p90", "p95", "p99", "max", "mean"],
    "messages{}": ["kind", "opened", "failed", "closed", "close_codes", "errors", "sent",
                   "received", "bytes_sent", "bytes_received", "first_message_p50_ms", "p50_ms",
                   "p95_ms", "p99_ms"],
    "generator": ["max_loop_lag_ms", "max_cpu_percent", "max_waiting_for_connection",
                  "send_lag_p99_ms"],
    "versions": ["loadnb", "python", "aiohttp"],
    "parameters": [
        "url", "model", "users", "rate", "duration", "requests", "ramp_up", "think_time",
        "pacing", "timeout", "max_in_flight", "connections", "keepalive", "method", "headers",
        "body_bytes", "expect_status", "insecure", "follow_redirects", "interval",
        "graceful_stop", "expected_interval", "transport", "scenario", "scenario_weights",
        "data_rows", "data_mode", "stages", "shape", "seed", "alerts", "history", "thresholds",
        "abort_on_fail", "abort_grace", "notify", "workers", "cluster", "http2", "streams",
        "cacert", "cert", "key", "connect_to"],
}
#: The TypedDict that types each nested place.
TYPES: dict[str, Any] = {
    "latency_ms": Quantiles, "service_ms": Quantiles, "connections": ConnectionsEntry,
    "connections.connect_ms": Quantiles, "connections.tls_ms": Quantiles,
    "stats[]": summary_parts.StatsRow,
    "users_started": summary_parts.UsersStarted, "checks{}": summary_parts.CheckCount,
    "iterations{}": summary_parts.IterationCount, "alerts[]": AlertEntry,
    "thresholds[]": ThresholdEntry, "custom{counter}": summary_parts.CustomCounter,
    "custom{gauge}": summary_parts.CustomGauge, "custom{timing}": summary_parts.CustomTiming,
    "generator": summary_parts.GeneratorHealth, "versions": Versions, "parameters": Parameters,
    "messages{}": summary_parts.MessageEntry,
}


def shape(summary: Any) -> dict[str, list[str]]:
    """The keys at every level of ``summary``, in order: ``""`` for the top; ``stats[]`` for
    each row of a list (rows must agree), ``checks{}`` for each value of a dict, ``custom{kind}``
    per kind of custom metric."""
    out: dict[str, list[str]] = {"": list(summary)}

    def put(place: str, entry: dict[str, Any]) -> None:
        assert out.setdefault(place, list(entry)) == list(entry), (place, list(entry))

    for key in ("latency_ms", "service_ms", "users_started", "generator", "versions",
                "parameters", "connections"):
        if summary[key] is not None:
            put(key, summary[key])
    for key in ("connect_ms", "tls_ms"):
        put(f"connections.{key}", summary["connections"][key])
    for key in ("stats", "alerts", "thresholds"):
        for entry in summary[key]:
            put(f"{key}[]", entry)
    for key in ("checks", "iterations", "messages"):
        for entry in summary[key].values():
            put(f"{key}{{}}", entry)
    for entry in summary["custom"].values():
        put(f"custom{{{entry['kind']}}}", entry)
    return out


def assert_pinned(summary: Any, *, older: bool = False) -> dict[str, list[str]]:
    """Every level of ``summary`` has the golden keys, in the golden order (``older``: a
    summary stored by an older loadnb, whose ``parameters`` lack the keys added since)."""
    got = shape(summary)
    assert got.pop("") == TOP
    for place, keys in got.items():
        want = NESTED[place][:len(keys)] if older and place == "parameters" else NESTED[place]
        assert keys == want, place
    return got


# -- the runs ------------------------------------------------------------------------------------
# The scenario's journeys are the export fixture's (shop, crash): checks, every kind of custom
# metric, a failing request and a task that fails every iteration.
async def test_a_closed_url_run_has_the_pinned_keys(demo_url: str) -> None:
    result = await Run(make_spec(demo_url, users=2, requests=20, interval=0.1,
                                 history="off")).run()
    got = assert_pinned(result.summary)
    assert {"users_started", "stats[]", "latency_ms", "parameters"} <= got.keys()


async def test_an_open_run_has_the_pinned_keys(demo_url: str) -> None:
    result = await Run(make_spec(demo_url, rate=200, requests=20, interval=0.1,
                                 history="off")).run()
    assert result.summary["users_started"] is None
    assert_pinned(result.summary)


async def test_a_scenario_run_has_the_pinned_keys_at_every_level(demo_url: str) -> None:
    result = await Run(make_spec(
        demo_url, scenario={shop: 3, crash: 1}, users=2, duration=1.0, interval=0.1, seed=5,
        thresholds=["p95<10s", "errors<1%"], alerts=["p50<0ms"], history="off")).run()
    got = assert_pinned(result.summary)
    streams = {"messages{}"}  # seen by the next test
    assert got.keys() == set(NESTED) - streams, set(NESTED) - streams - got.keys()
    assert result.summary["error_samples"] and result.summary["errors"]


async def test_a_scenario_with_message_streams_has_the_pinned_keys(demo_url: str) -> None:
    result = await Run(make_spec(demo_url, scenario=echo_then_feed(2), users=1, requests=4,
                                 interval=0.1,
                                 history="off")).run()
    got = assert_pinned(result.summary)
    assert "messages{}" in got and set(result.summary["messages"]) == {"echo", "feed"}


def test_the_typeddicts_declare_the_golden_keys() -> None:
    assert list(Summary.__annotations__) == TOP
    assert Summary.__required_keys__ == set(TOP)
    for place, typed in TYPES.items():
        assert list(typed.__annotations__) == NESTED[place], place
        everything = typed.__required_keys__ | typed.__optional_keys__
        assert everything == set(NESTED[place]), place
    assert Parameters.__optional_keys__ == set(NESTED["parameters"])  # a loaded run's may miss
    assert QUANTILE_KEYS == tuple(NESTED["latency_ms"])
    assert summary_parts.STATS_KEYS == tuple(NESTED["stats[]"])


def test_the_json_output_has_the_pinned_keys(demo_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run(
        [sys.executable, "-m", "loadnb.cli", "run", demo_url, "--users", "2", "--requests", "20",
         "--no-history", "-q", "--json"], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    got = assert_pinned(json.loads(done.stdout))
    assert {"users_started", "stats[]", "generator", "versions"} <= got.keys()


# -- summaries read back -------------------------------------------------------------------------
def test_summary_of_fills_a_partial_summary_and_keeps_a_whole_one(demo_url: str) -> None:
    empty = empty_summary()
    assert summary_of({}) == empty and list(empty) == TOP
    for place in ("latency_ms", "service_ms", "generator", "versions"):
        assert list(empty[place]) == NESTED[place]
    partial = summary_of({"run_id": "r1", "latency_ms": {"p50": 1.5},
                          "stats": [{"name": "a", "failures": 2}]})
    assert list(partial) == TOP and partial["latency_ms"]["p50"] == 1.5
    assert list(partial["latency_ms"]) == NESTED["latency_ms"]
    assert partial["latency_ms"]["p99"] is None
    assert partial["stats"] == [{"name": "a", "failed": 2}]  # the old key name, mapped
    whole = build_summary(RunRecord("r2", make_spec(demo_url, history="off")))
    assert summary_of(whole) == whole and list(summary_of(whole)) == TOP


def test_an_export_written_before_the_typed_summary_loads(tmp_path: Path) -> None:
    """``tests/fixtures/export-r1.json``: a scenario run exported by the code before the
    typed summary (``make_export_r1.py``); it loads, its stored summary reads back with the
    pinned keys, and the loaded run's summary equals the stored one."""
    path = tmp_path / "run.json"
    shutil.copy(FIXTURES / "export-r1.json", path)
    stored = read(path)["summary"]
    got = assert_pinned(stored, older=True)
    assert {"checks{}", "iterations{}", "custom{counter}", "custom{gauge}", "custom{timing}",
            "thresholds[]", "alerts[]"} <= got.keys()
    again = json.loads(json.dumps(load(str(path)).summary))
    assert again.pop("versions")["loadnb"] == stored.pop("versions")["loadnb"]
    assert again == stored  # the loaded run's summary is the one it was exported with


def test_a_history_written_before_the_typed_summary_lists_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    shutil.copy(FIXTURES / "history-v1.sqlite", path)
    (run,) = list_runs(path)  # its stored summary is read back for the listing's percentiles
    result = load(str(run["run_id"]), path)
    assert run["p95_ms"] == result.summary["latency_ms"]["p95"]
    assert list(result.summary) == TOP


@pytest.mark.slow
def test_a_planted_key_typo_fails_mypy(tmp_path: Path) -> None:
    """A reader that misspells a key is a type error (mypy checks every read): one mypy run over
    a correct reader and two misspelt ones, each judged by its own lines of the report."""
    pytest.importorskip("mypy")
    good = "def p99(s: Summary) -> float | None:\n    return s['latency_ms']['p99']\n"
    readers = {"good": good, "top": good.replace("latency_ms", "latency"),
               "inner": good.replace("'p99'", "'p98'")}
    for stem, body in readers.items():
        (tmp_path / f"reader_{stem}.py").write_text(
            "from loadnb.record.summary import Summary\n\n\n" + body)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "cache"),
         *(str(tmp_path / f"reader_{stem}.py") for stem in readers)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env={
            **os.environ, "MYPYPATH": str(ROOT)})
    report = textwrap.indent(done.stdout, "  ")
    assert done.returncode == 1, report
    for stem in readers:
        lines = [line for line in done.stdout.splitlines() if f"reader_{stem}.py:" in line]
        if stem == "good":
            assert not lines, report
        else:
            assert any("TypedDict" in line and "has no key" in line for line in lines), report


def test_result_summary_is_build_summary(demo_url: str) -> None:
    record = RunRecord("r3", make_spec(demo_url, history="off"))
    assert Result(record).summary == build_summary(record)
