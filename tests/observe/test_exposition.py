"""The exposition parser (Prometheus text 0.0.4 and OpenMetrics 1.0), the series filter and the
rates between scrapes: examples from both specifications, and generated expositions (hypothesis)
rendered in random but valid ways and parsed back."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadnb.observe.exposition import Rates, make_filter, parse, series_name

# The example of the Prometheus text format documentation, and OpenMetrics families.
PROM_DOC = (r'''# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",'''
    r'''error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
''')

OPENMETRICS = '''# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo counter
foo_total 17.0 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67
foo_created 1520872607.123
# TYPE go_goroutines gauge
go_goroutines 69
# TYPE build info
build_info{version="1.2"} 1
# EOF
after_eof_total 1
'''


def test_the_prometheus_documentation_example() -> None:
    out = parse(PROM_DOC)
    assert out.bad_lines == 0
    assert out.samples == {
        'server.http_requests_total{code="200",method="post"}': ("counter", 1027.0),
        'server.http_requests_total{code="400",method="post"}': ("counter", 3.0),
        'server.msdos_file_access_time_seconds{error="Cannot find file:\\n\\"FILE.TXT\\"",'
        'path="C:\\\\DIR\\\\FILE.TXT"}': ("gauge", 1.458255915e9),
        "server.metric_without_timestamp_and_labels": ("gauge", 12.47),
        'server.something_weird{problem="division by zero"}': ("gauge", math.inf),
        'server.http_request_duration_seconds_bucket{le="0.05"}': ("counter", 24054.0),
        'server.http_request_duration_seconds_bucket{le="+Inf"}': ("counter", 144320.0),
        "server.http_request_duration_seconds_sum": ("counter", 53423.0),
        "server.http_request_duration_seconds_count": ("counter", 144320.0),
        'server.rpc_duration_seconds{quantile="0.01"}': ("gauge", 3102.0),
        "server.rpc_duration_seconds_sum": ("counter", 1.7560473e7),
        "server.rpc_duration_seconds_count": ("counter", 2693.0),
    }


def test_openmetrics_families_created_exemplars_and_eof() -> None:
    out = parse(OPENMETRICS)
    assert out.bad_lines == 0
    assert out.samples == {
        'server.acme_http_router_request_seconds_sum{method="GET",path="/api/v1"}':
            ("counter", 9036.32),
        'server.acme_http_router_request_seconds_count{method="GET",path="/api/v1"}':
            ("counter", 807283.0),
        "server.foo_total": ("counter", 17.0),
        "server.go_goroutines": ("gauge", 69.0),
        'server.build_info{version="1.2"}': ("gauge", 1.0),
    }


@pytest.mark.parametrize("line", [
    "no_value", 'bad{label="x} 1', 'bad{1x="y"} 1', "bad 1 2 3", "bad one", '{a="b"} 1',
    'dup{a="1",a="2"} 1', "bad 0x10", "bad 1_000", 'bad{a="b"}1', 'bad{a="b" c="d"} 1',
])
def test_a_bad_line_is_counted_and_the_rest_is_read(line: str) -> None:
    out = parse(f"good_total 1\n{line}\nother 2\n")
    assert out.bad_lines == 1 and out.first_bad == line
    assert out.samples == {"server.good_total": ("counter", 1.0), "server.other": ("gauge", 2.0)}


def test_untyped_samples_crlf_spaces_and_trailing_comma() -> None:
    text = 'a_total{x="1",} 5\r\n  b\t7 123\r\n c{ y = "2" , } 1e3\n'
    assert parse(text).samples == {'server.a_total{x="1"}': ("counter", 5.0),
                                   "server.b": ("gauge", 7.0),
                                   'server.c{y="2"}': ("gauge", 1000.0)}


def test_series_names_are_stable_whatever_the_label_order() -> None:
    a = parse('m{b="2",a="1"} 1\n').samples
    b = parse('m{a="1",b="2"} 1\n').samples
    assert list(a) == list(b) == ['server.m{a="1",b="2"}']
    assert series_name("m", {}) == "server.m"


def test_added_labels_keep_the_own_one_as_exported() -> None:
    out = parse('m{instance="x"} 1\nn 2\n', labels={"instance": "h:1"}).samples
    assert out == {'server.m{exported_instance="x",instance="h:1"}': ("gauge", 1.0),
                   'server.n{instance="h:1"}': ("gauge", 2.0)}


def test_the_default_filter_keeps_counters_process_and_gc() -> None:
    text = "\n".join([
        "# TYPE h histogram", 'h_bucket{le="1"} 1', "h_sum 2", "h_count 1",
        "process_cpu_seconds_total 3", "process_resident_memory_bytes 4", "process_open_fds 5",
        "process_virtual_memory_bytes 6", "python_gc_objects_collected_total{generation=\"0\"} 7",
        "# TYPE go_gc_duration_seconds summary", 'go_gc_duration_seconds{quantile="0.5"} 8',
        "go_goroutines 9", "queue_depth 10", "# TYPE jobs counter", "jobs_total 11", ""])
    kept = set(parse(text, keep=make_filter()).samples)
    assert kept == {"server.h_sum", "server.h_count", "server.process_cpu_seconds_total",
                    "server.process_resident_memory_bytes", "server.process_open_fds",
                    'server.python_gc_objects_collected_total{generation="0"}',
                    'server.go_gc_duration_seconds{quantile="0.5"}', "server.jobs_total"}


def test_a_match_filter_searches_metric_and_labels() -> None:
    text = 'req_total{path="/a"} 1\nreq_total{path="/b"} 2\nqueue_depth 3\n'
    keep = make_filter(r'req_total\{path="/a"\}|queue')
    assert set(parse(text, keep=keep).samples) == {'server.req_total{path="/a"}',
                                                   "server.queue_depth"}
    with pytest.raises(ValueError, match="not a regular expression"):
        make_filter("(")


def test_rates_between_scrapes_reset_aware() -> None:
    rates = Rates()
    first = rates.update(10.0, {"c": ("counter", 100.0), "g": ("gauge", 5.0)})
    assert math.isnan(first["c"]) and first["g"] == 5.0
    assert rates.update(12.0, {"c": ("counter", 140.0), "g": ("gauge", 6.0)}) == {
        "c": 20.0, "g": 6.0}
    # a drop: the target restarted, its counter counted 30 since
    assert rates.update(15.0, {"c": ("counter", 30.0)}) == {"c": 10.0}
    # a series that appears started at 0 since the scrape before
    assert rates.update(20.0, {"c": ("counter", 40.0), "d": ("counter", 5.0)}) == {
        "c": 2.0, "d": 1.0}
    # the same time twice gives no rate
    out = rates.update(20.0, {"c": ("counter", 40.0)})
    assert math.isnan(out["c"])


def test_parse_is_fast_enough_for_a_large_exposition() -> None:
    # a node_exporter answers ~2,000 lines; parsing must stay small beside a tick
    import time

    text = "".join(f'node_x_total{{cpu="{i}",mode="idle"}} {i * 1.5}\n' for i in range(2000))
    t0 = time.process_time()
    out = parse(text, keep=make_filter())
    assert len(out.samples) == 2000
    assert time.process_time() - t0 < 1.0  # generous: only catches a pathological parser


# -- generated expositions ------------------------------------------------------------------------

LABEL_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in ("le", "quantile"))
LABEL_VALUES = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
VALUES = st.one_of(st.integers(-10**12, 10**12).map(float),
                   st.floats(allow_nan=False, width=64), st.just(math.nan))


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _key(metric: str, labels: dict[str, str]) -> str:
    if not labels:
        return "server." + metric
    return "server." + metric + "{" + ",".join(
        f'{k}="{_escape(labels[k])}"' for k in sorted(labels)) + "}"


def _number(v: float, draw: Any) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return draw(st.sampled_from(["+Inf", "Inf", "inf"])) if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 1e15 and draw(st.booleans()):
        return str(int(v))
    return repr(v)


class _Writer:
    """Writes random but valid sample lines, and what parsing them must give."""

    def __init__(self, draw: Any, openmetrics: bool) -> None:
        self.draw, self.openmetrics = draw, openmetrics
        self.lines: list[str] = []
        self.expected: dict[str, tuple[str, float]] = {}

    def sample(self, metric: str, labels: dict[str, str], value: float, kind: str | None) -> None:
        draw = self.draw
        items = list(labels.items())
        order = draw(st.permutations(items)) if items else []
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in order)
        if inner and draw(st.booleans()):
            inner += ","
        head = f"{metric}{{{inner}}}" if inner or draw(st.booleans()) else metric
        line = f"{head}{draw(st.sampled_from([' ', '  ', chr(9)]))}{_number(value, draw)}"
        if draw(st.booleans()):
            line += " " + (repr(draw(st.floats(0, 2e9))) if self.openmetrics
                           else str(draw(st.integers(-2**40, 2**40))))
        if self.openmetrics and kind == "counter" and draw(st.booleans()):
            line += ' # {trace_id="abc"} 0.5'
        self.lines.append(line)
        if kind is not None:
            self.expected[_key(metric, labels)] = (kind, value)

    def family(self, name: str, family: str, label_sets: list[dict[str, str]]) -> None:
        draw, sample = self.draw, self.sample
        if family == "counter":
            total = name + "_total"
            self.lines.append(f"# TYPE {name if self.openmetrics else total} counter")
            for labels in label_sets:
                sample(total, labels, abs(draw(VALUES)), "counter")
                if self.openmetrics:
                    sample(name + "_created", labels, 1.6e9, None)
        elif family in ("gauge", "untyped"):
            if family == "gauge":
                self.lines.append(f"# TYPE {name} gauge")
            for labels in label_sets:
                sample(name, labels, draw(VALUES), "gauge")
        else:
            self.lines.append(f"# TYPE {name} {family}")
            key, suffix, kind = (("le", "_bucket", "counter") if family == "histogram"
                                 else ("quantile", "", "gauge"))
            for labels in label_sets:
                for q in ("0.5", "1"):
                    sample(name + suffix, {**labels, key: q}, draw(VALUES), kind)
                sample(name + "_sum", labels, draw(VALUES), "counter")
                sample(name + "_count", labels, abs(draw(VALUES)), "counter")


@st.composite
def expositions(draw: Any) -> tuple[str, dict[str, tuple[str, float]]]:
    """(text, expected samples) of a random exposition in either format."""
    w = _Writer(draw, draw(st.booleans()))
    for i in range(draw(st.integers(0, 6))):
        family = draw(st.sampled_from(["counter", "gauge", "histogram", "summary", "untyped"]))
        name = f"m{i}_{family}"
        if draw(st.booleans()):
            help_text = draw(st.text(st.characters(blacklist_categories=["Cs"],
                                                   blacklist_characters="\n\r"), max_size=20))
            w.lines.append(f"# HELP {name} {_escape(help_text)}")
        w.family(name, family, draw(st.lists(
            st.dictionaries(LABEL_NAMES, LABEL_VALUES, max_size=3), min_size=1, max_size=3,
            unique_by=lambda d: tuple(sorted(d.items())))))
        if draw(st.booleans()):
            w.lines.append(draw(st.sampled_from(["", "# a comment", "   "])))
    if w.openmetrics:
        w.lines += ["# EOF", "after_eof 1"]
    return "\n".join(w.lines) + draw(st.sampled_from(["", "\n"])), w.expected


def _same(a: dict[str, tuple[str, float]], b: dict[str, tuple[str, float]]) -> bool:
    return a.keys() == b.keys() and all(
        a[k][0] == b[k][0] and (a[k][1] == b[k][1] or (math.isnan(a[k][1])
                                                         and math.isnan(b[k][1]))) for k in a)


@pytest.mark.slow
@settings(max_examples=120, deadline=None)
@given(expositions())
def test_generated_expositions_parse_back(case: tuple[str, dict[str, tuple[str, float]]]) -> None:
    text, expected = case
    out = parse(text)
    assert out.bad_lines == 0, out.first_bad
    assert _same(out.samples, expected), (out.samples, expected)


@settings(max_examples=120, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_without_raising(text: str) -> None:
    out = parse(text)
    assert out.bad_lines >= 0
    for series, (kind, value) in out.samples.items():
        assert series.startswith("server.") and kind in ("counter", "gauge")
        assert isinstance(value, float)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(LABEL_NAMES, LABEL_VALUES, max_size=4))
def test_a_series_name_is_itself_a_valid_sample(labels: dict[str, str]) -> None:
    name = series_name("metric_x", labels, prefix="")
    out = parse(f"{name} 1\n")
    assert list(out.samples) == ["server." + name]
    assert re.fullmatch(r"metric_x(\{.*\})?", name, re.S)


@settings(max_examples=40, deadline=None)
@given(expositions(), st.lists(st.integers(0, 200), max_size=5))
def test_a_parser_fed_in_parts_reads_the_same(
        case: tuple[str, dict[str, tuple[str, float]]], cuts: list[int]) -> None:
    from loadnb.observe.exposition import Parser

    text, expected = case
    lines = text.split("\n")
    parser = Parser()
    start = 0
    for cut in sorted(cuts) + [len(lines)]:
        parser.feed(lines[start:cut])
        start = max(start, cut)
    assert _same(parser.out.samples, expected)
