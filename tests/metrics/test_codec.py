"""The one codec (loadnb.metrics.codec): exact round trips through each carrier (msgpack for the
Dask payloads, JSON for the exports, SQLite rows for the history), merging commutes with it,
stored snapshot rows, and a count: no other module encodes or decodes the stats."""

from __future__ import annotations

import ast
import json
import math
import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadnb.history.store import ROWS, connect, insert_sql
from loadnb.history.writer import stats_row
from loadnb.metrics.codec import (
    MSGPACK,
    TYPES,
    Carrier,
    decode,
    decode_payload,
    encode,
    encode_payload,
    field_names,
)
from loadnb.metrics.connections import ConnectStats
from loadnb.metrics.custom import CustomMetric
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.messages import MessageStats
from loadnb.metrics.payload import Payload, SourceStatus, merge_payloads
from loadnb.metrics.snapshot import Snapshot
from loadnb.metrics.stats import IntervalStats, merge_intervals
from loadnb.results.export import JSON

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
#: Text that no redaction changes (the history redacts ``token=…`` and ``user:pw@``).
_text = st.text(st.characters(exclude_characters="=@", exclude_categories=("Cs",)), max_size=12)
_seconds = st.lists(st.floats(1e-7, 50.0), max_size=30)
_ints = st.integers(0, 2**40)
_pairs = st.lists(_ints, min_size=2, max_size=2)


def _float(default: float, *, anything: bool) -> st.SearchStrategy[float]:
    """Any float (msgpack holds them all) or, where NaN and infinities are stored as None, a
    finite one or the field's default (what a run produces)."""
    if anything:
        return st.floats(allow_nan=True, allow_infinity=True)
    return st.one_of(st.floats(-1e12, 1e12), st.just(default))


@st.composite
def interval_stats(draw: st.DrawFn, name: str | None = None) -> IntervalStats:
    return IntervalStats(
        draw(_text) if name is None else name, draw(_ints), draw(_ints), draw(_ints),
        draw(_ints), draw(_ints), draw(_ints),
        latency=Histogram.from_seconds(draw(_seconds)),
        service=Histogram.from_seconds(draw(_seconds)),
        status=draw(st.dictionaries(st.integers(0, 599), _ints, max_size=4)),
        errors=draw(st.dictionaries(_text, _ints, max_size=4)),
        samples=draw(st.dictionaries(_text, _text, max_size=3)),
        checks=draw(st.dictionaries(_text, _pairs, max_size=3)),
        iterations=draw(st.dictionaries(_text, _pairs, max_size=3)),
        iteration_errors=draw(st.dictionaries(_text.map(lambda t: f"task\x00{t}"), _ints,
                                              max_size=3)))


@st.composite
def custom_metric(draw: st.DrawFn, name: str | None = None, kind: str | None = None, *,
                  anything: bool = True) -> CustomMetric:
    """A custom metric; only a timing has a histogram (as the recorder makes them)."""
    kind = draw(st.sampled_from(["counter", "gauge", "timing"])) if kind is None else kind
    return CustomMetric(
        draw(_text) if name is None else name, kind, draw(st.integers(0, 2**31)),
        draw(_float(0.0, anything=anything)), draw(_float(math.nan, anything=anything)),
        draw(_float(math.inf, anything=anything)), draw(_float(-math.inf, anything=anything)),
        Histogram.from_seconds(draw(_seconds) if kind == "timing" else []))


@st.composite
def message_stats(draw: st.DrawFn, name: str | None = None) -> MessageStats:
    """A message stream's counts (issue 22): every field drawn."""
    return MessageStats(
        draw(_text) if name is None else name, draw(st.sampled_from(["ws", "sse"])),
        *(draw(_ints) for _ in range(7)),
        close_codes=draw(st.dictionaries(st.integers(1000, 4999), _ints, max_size=3)),
        errors=draw(st.dictionaries(_text, _ints, max_size=3)),
        samples=draw(st.dictionaries(_text, _text, max_size=2)),
        first_message=Histogram.from_seconds(draw(_seconds)),
        reply=Histogram.from_seconds(draw(_seconds)))


@st.composite
def payloads(draw: st.DrawFn, *, anything: bool = True) -> Payload:
    names = draw(st.lists(_text, max_size=4, unique=True))
    stats = {n: draw(interval_stats(n)) for n in names}
    cnames = draw(st.lists(_text, max_size=3, unique=True))
    custom = {n: draw(custom_metric(n, anything=anything)) for n in cnames}
    small, nan = st.integers(0, 10**6), math.nan
    status = SourceStatus(
        draw(small), draw(small), draw(small), draw(small), draw(_float(nan, anything=anything)),
        draw(st.sampled_from(["idle", "running", "ending", "done"])), draw(small), draw(small),
        draw(_float(0.0, anything=anything)), draw(_float(nan, anything=anything)),
        draw(st.lists(st.tuples(st.floats(0, 1e6), _text), max_size=3)),
        draw(_float(nan, anything=anything)), draw(_float(nan, anything=anything)),
        draw(st.integers(0, 1)), draw(small))
    mnames = draw(st.lists(_text, max_size=3, unique=True))
    return Payload(stats, status, custom, messages={n: draw(message_stats(n)) for n in mnames})


def canon(value: Any) -> Any:
    """Plain, comparable data: NaN as a marker, histograms by their contents, types kept."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, Histogram):
        return ("H", value.counts.tolist(), value.total, value.sum_us, value.min_s, value.max_s)
    if isinstance(value, dict):
        return ("dict", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [canon(v) for v in value])
    if hasattr(value, "__dataclass_fields__"):
        return (type(value).__name__, {f: canon(getattr(value, f))
                                       for f in value.__dataclass_fields__})
    return (type(value).__name__, value)


# -- the carriers, end to end -------------------------------------------------------------------
def via_msgpack(obj: T) -> T:
    wire = msgpack.packb(encode(obj, MSGPACK), use_bin_type=True)
    return decode(type(obj), msgpack.unpackb(wire, raw=False), MSGPACK)


def via_json(obj: T) -> T:
    text = json.dumps(encode(obj, JSON), allow_nan=False)
    return decode(type(obj), json.loads(text), JSON)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    conn = connect(tmp_path_factory.mktemp("codec") / "h.sqlite")
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


_TABLES: dict[type, str] = {IntervalStats: "intervals", CustomMetric: "custom",
                            ConnectStats: "connections", MessageStats: "messages"}


def via_sqlite(conn: sqlite3.Connection) -> Callable[[Any], Any]:
    """The history's carrier: the row written as the writer does, read back as the reader."""
    def trip(obj: T) -> T:
        table = _TABLES[type(obj)]
        conn.execute(f"DELETE FROM {table}")
        conn.execute(insert_sql(table, type(obj)), stats_row("r", 1, obj))
        (row,) = conn.execute(f"SELECT * FROM {table}").fetchall()
        return decode(type(obj), dict(row), ROWS)

    return trip


CARRIERS = ["msgpack", "json", "sqlite"]


def _trip(carrier: str, conn: sqlite3.Connection) -> Callable[[Any], Any]:
    return {"msgpack": via_msgpack, "json": via_json}.get(carrier) or via_sqlite(conn)


@pytest.mark.parametrize("carrier", CARRIERS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_interval_stats_and_custom_metrics_round_trip_exactly(
        carrier: str, history: sqlite3.Connection, data: st.DataObject) -> None:
    trip = _trip(carrier, history)
    iv = data.draw(interval_stats())
    assert canon(trip(iv)) == canon(iv)
    metric = data.draw(custom_metric(anything=carrier == "msgpack"))
    assert canon(trip(metric)) == canon(metric)
    stream = data.draw(message_stats())
    assert canon(trip(stream)) == canon(stream)


@pytest.mark.parametrize("carrier", ["msgpack", "json"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_payloads_round_trip_exactly(carrier: str, data: st.DataObject) -> None:
    payload = data.draw(payloads(anything=carrier == "msgpack"))
    back = via_msgpack(payload) if carrier == "msgpack" else via_json(payload)
    assert canon(back) == canon(payload)
    assert list(back.stats) == list(payload.stats) and list(back.custom) == list(payload.custom)


@settings(max_examples=60, deadline=None)
@given(payloads())
def test_the_dask_codec_round_trips_exactly(payload: Payload) -> None:
    wire = msgpack.packb(encode_payload(payload), use_bin_type=True)
    assert canon(decode_payload(msgpack.unpackb(wire, raw=False))) == canon(payload)


@pytest.mark.parametrize("carrier", CARRIERS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_merge_of_decoded_parts_is_decode_of_merged(carrier: str, history: sqlite3.Connection,
                                                    data: st.DataObject) -> None:
    trip = _trip(carrier, history)
    parts = data.draw(st.lists(interval_stats("GET /"), min_size=1, max_size=4))
    assert canon(merge_intervals(map(trip, parts))) == canon(trip(merge_intervals(parts)))
    kind = data.draw(st.sampled_from(["counter", "gauge", "timing"]))
    metrics = data.draw(st.lists(custom_metric("m", kind, anything=carrier == "msgpack"),
                                 min_size=1, max_size=4))
    merged, merged_back = CustomMetric("m", kind), CustomMetric("m", kind)
    for metric in metrics:
        merged.merge(metric)
        merged_back.merge(trip(metric))
    assert canon(merged_back) == canon(trip(merged))
    streams = data.draw(st.lists(message_stats("echo"), min_size=1, max_size=4))
    whole, whole_back = MessageStats("echo", streams[0].kind), MessageStats("echo",
                                                                            streams[0].kind)
    for stream in streams:
        whole.merge(stream)
        whole_back.merge(trip(stream))
    assert canon(whole_back) == canon(trip(whole))


@settings(max_examples=40, deadline=None)
@given(st.lists(payloads(), min_size=1, max_size=4))
def test_merge_of_decoded_payloads_is_decode_of_merged(parts: list[Payload]) -> None:
    merged = merge_payloads([via_msgpack(p) for p in parts])
    assert canon(merged) == canon(via_msgpack(merge_payloads(parts)))


def test_statuses_whose_sum_passes_the_largest_float_merge_as_floats_add() -> None:
    # (found by the property test above: target rates of 9e307 raised OverflowError)
    def rates(*values: float) -> float:
        return merge_payloads([Payload({}, SourceStatus(target_rate=v)) for v in values]
                              ).status.target_rate

    assert rates(1e308, 1e308) == math.inf
    assert math.isnan(rates(math.inf, -math.inf))
    assert rates(0.1, 0.2, 0.3) == 0.6  # (still exact where it can be: fsum)
    assert rates(math.nan, 2.0) == 2.0


def test_merged_percentiles_are_those_of_the_union() -> None:
    rng = random.Random(5)
    parts = [[rng.lognormvariate(-4, 1) for _ in range(3000)] for _ in range(3)]
    sent = []
    for values in parts:
        iv = IntervalStats("GET /", started=len(values), completed=len(values),
                           latency=Histogram.from_seconds(values))
        sent.append(msgpack.unpackb(msgpack.packb(encode_payload(
            Payload({"GET /": iv}, SourceStatus(workers=1))))))
    merged = merge_payloads([decode_payload(p) for p in sent])
    union = Histogram.from_seconds([v for values in parts for v in values])
    qs = (50, 90, 95, 99, 99.9, 100)
    assert merged.stats["GET /"].latency.percentiles(qs) == union.percentiles(qs)
    assert merged.stats["GET /"].completed == 9000 and merged.status.workers == 3


# -- the rules at the edges ---------------------------------------------------------------------
def test_what_a_medium_cannot_hold_is_none_and_reads_back_as_the_default() -> None:
    gauge = CustomMetric("q", "gauge")  # nothing set: last NaN, min +inf, max -inf
    assert encode(gauge, JSON) == {"name": "q", "kind": "gauge", "count": 0, "total": 0.0,
                                   "last": None, "min": None, "max": None, "hist": None}
    back = decode(CustomMetric, {"name": "q", "kind": "gauge"}, JSON)  # an older, shorter one
    assert (math.isnan(back.last), back.min, back.max, back.count) == (True, math.inf,
                                                                       -math.inf, 0)
    assert math.isnan(via_msgpack(gauge).last)  # msgpack holds NaN as it is
    timing = CustomMetric("t", "timing", 1, 0.5, hist=Histogram.from_seconds([0.5]))
    assert isinstance(encode(timing, JSON)["hist"], str)  # base64 at the JSON edge only
    assert isinstance(encode(timing)["hist"], bytes)


def test_a_new_field_needs_no_codec_edit() -> None:
    """The plain data's keys are the dataclass fields, in order, for every type."""
    samples = [IntervalStats("x"), CustomMetric("x", "counter"), MessageStats("x"),
               SourceStatus(), ConnectStats(), Payload({}, SourceStatus())]
    assert [type(s) for s in samples] == list(TYPES)
    for sample in samples:
        names = [f.name for f in fields(sample)]  # type: ignore[arg-type]
        assert list(encode(sample)) == names == list(field_names(type(sample)))


def test_every_stats_field_has_a_history_column(history: sqlite3.Connection) -> None:
    """A new IntervalStats or CustomMetric field without a column (and a migration) fails here,
    not in a run: the history's rows are the codec's fields by name."""
    for cls, table in _TABLES.items():
        columns = {r["name"] for r in history.execute(f"PRAGMA table_info({table})")}
        assert set(field_names(cls)) <= columns, table


def test_a_carrier_is_its_edge_only() -> None:
    upper = Carrier("upper", text_out=str.upper)
    assert encode(IntervalStats("get /", errors={"x": 1}), upper)["name"] == "GET /"
    assert encode(IntervalStats("get /", errors={"x": 1}), upper)["errors"] == {"x": 1}


# -- stored snapshots ---------------------------------------------------------------------------
def test_a_stored_row_becomes_a_snapshot() -> None:
    row = {"timestamp": 1.0, "elapsed_time": 0.5, "progress_percent": 50, "active_users": 2,
           "completed_requests": 9, "failed_requests": 1, "success_rate": None,
           "current_rps": 20.0, "peak_rps": 20.0, "estimated_completion": 1.0,
           "p99_ms": None, "interval_errors": '{"HTTP 500": 1}', "run_id": "ignored"}
    snap = Snapshot.from_row(row)
    assert math.isnan(snap.success_rate) and math.isnan(snap.p99_ms)
    assert isinstance(snap.progress_percent, float) and snap.progress_percent == 50.0
    assert snap.interval_errors == {"HTTP 500": 1}
    assert snap.workers == 0 and snap.phase == "running"  # missing: the default
    assert Snapshot.from_row({**row, "interval_errors": {"x": 2}}).interval_errors == {"x": 2}
    assert Snapshot.from_row({**row, "interval_errors": None}).interval_errors == {}
    conn = sqlite3.connect(":memory:")  # a sqlite3.Row, as the history reads it
    conn.row_factory = sqlite3.Row
    keys = [k for k in row if k != "interval_errors"]
    stored = conn.execute(f"SELECT {', '.join('? AS ' + k for k in keys)}",
                          [row[k] for k in keys]).fetchone()
    assert Snapshot.from_row(stored).completed_requests == 9
    conn.close()


# -- the count: one codec, one rebuild ----------------------------------------------------------
def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / "loadnb").rglob("*.py")):
        yield path.relative_to(ROOT / "loadnb").as_posix(), ast.parse(path.read_text())


def _calls(tree: ast.Module) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")


def test_the_stats_encoding_has_one_implementation() -> None:
    """Only the codec turns histograms into bytes and back, and builds the stats from stored
    data; only the rebuild (and the monitor, live) adds intervals to a record."""
    encodings, builds, adds = set(), set(), set()
    for module, tree in _modules():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in ("encode", "decode")
                    and _name(node.value) in ("Histogram", "hist", "latency", "service", "h")):
                encodings.add(module)
        for call in _calls(tree):
            if (_name(call.func) in ("IntervalStats", "CustomMetric")
                    and len(call.args) + len(call.keywords) > 2):
                builds.add(module)
            if _name(call.func) == "add" and _name(getattr(call.func, "value", call)) == "record":
                adds.add(module)
    assert encodings == {"metrics/codec.py"}
    # the codec (with its packed form of the Dask payloads' stats) and the recorder
    assert builds <= {"metrics/codec.py", "metrics/packed.py", "metrics/stats.py"}
    assert adds == {"record/rebuild.py", "runner/monitor.py"}


def test_a_field_of_a_type_the_codec_does_not_know_fails_at_once() -> None:
    from dataclasses import dataclass, field

    @dataclass
    class Odd:
        name: str
        seen: set[str] = field(default_factory=set)

    with pytest.raises(TypeError, match="not set"):
        encode(Odd("x"))
