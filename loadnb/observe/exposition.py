"""Prometheus text exposition (0.0.4) and OpenMetrics (1.0) into ``server.<metric>{labels}`` series.

:func:`parse` reads one scrape into ``{series: (kind, value)}`` where ``kind`` is ``"counter"``
(cumulative: ``*_total``, OpenMetrics counter families, histogram and summary ``_sum``, ``_count``
and ``_bucket``) or ``"gauge"`` (everything else: gauges, summary quantiles, info, untyped). A
series is named ``server.<metric>{labels}``, labels sorted by name and their values escaped as in
the exposition (``\\\\``, ``\\"``, ``\\n``), so the same series has the same name in every scrape.
Sample timestamps and OpenMetrics exemplars are read and ignored (a scrape is taken at the time it
was made); ``_created`` samples are dropped; a line that is not valid is skipped and counted.

:func:`make_filter` chooses the series kept: by default every counter (histogram ``_bucket``
series excepted) and process CPU, memory and open file descriptors, and GC (:data:`DEFAULT_MATCH`);
with a regular expression, the series whose ``metric{labels}`` it matches (``re.search``).
:class:`Rates` turns consecutive scrapes into values: counters as per-second rates between the two
scrapes (a drop means the target restarted: the new value is the increase), gauges as they are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DEFAULT_MATCH", "PREFIX", "Exposition", "Keep", "Kind", "Parser", "Rates", "Sample",
           "escape_label", "make_filter", "parse", "series_name"]

Kind = Literal["counter", "gauge"]
Sample = tuple[Kind, float]
#: ``keep(metric, series, kind)``: whether a parsed sample becomes a series.
Keep = Callable[[str, str, Kind], bool]

#: What every series name starts with.
PREFIX = "server."
#: Gauges (and summaries) kept by default besides every counter: process CPU and memory, open
#: file descriptors, Python's and Go's garbage collector.
DEFAULT_MATCH = (r"^(process_cpu_seconds_total|process_resident_memory_bytes|process_open_fds"
                 r"|process_max_fds|python_gc_\w+|go_gc_\w+)$")

_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*\"((?:[^\"\\]|\\.)*)\"[ \t]*")
_UNESCAPE = re.compile(r"\\(.)")
_UNESCAPED = {"n": "\n", "\\": "\\", '"': '"'}
_PAIR_RE = r'[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"')
_FAST = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:" + _PAIR_RE + "(?:," + _PAIR_RE
                   + r")*,?)?)\})?[ \t]+([^ \t]+)(?:[ \t]+([^ \t#]+))?[ \t]*")
_TYPES = {"counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset",
          "untyped", "unknown"}
# sample-name suffix -> the kind of that sample, per family type (None: dropped)
_SUFFIX_KIND: dict[str, dict[str, Kind | None]] = {
    "counter": {"": "counter", "_total": "counter", "_created": None},
    "histogram": {"_bucket": "counter", "_count": "counter", "_sum": "counter",
                  "_created": None},
    "summary": {"": "gauge", "_count": "counter", "_sum": "counter", "_created": None},
    "gaugehistogram": {"_bucket": "gauge", "_gcount": "gauge", "_gsum": "gauge"},
    "info": {"_info": "gauge", "": "gauge"},
}
_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info")


def escape_label(value: str) -> str:
    """A label value as written inside ``"…"`` in an exposition."""
    if "\\" not in value and '"' not in value and "\n" not in value:
        return value
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_name(metric: str, labels: Mapping[str, str], prefix: str = PREFIX) -> str:
    """``server.<metric>{a="x",b="y"}``: labels sorted by name, values escaped; no braces
    without labels."""
    if not labels:
        return prefix + metric
    inner = ",".join(f'{k}="{escape_label(labels[k])}"' for k in sorted(labels))
    return f"{prefix}{metric}{{{inner}}}"


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return _UNESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(0)), value)


@dataclass
class Exposition:
    """One parsed scrape: the kept series, and the lines that could not be read."""

    samples: dict[str, Sample] = field(default_factory=dict)
    bad_lines: int = 0
    first_bad: str = ""  #: the first unreadable line (cut to 200 characters)

    def bad(self, line: str) -> None:
        """Count an unreadable line (and keep the first)."""
        if not self.bad_lines:
            self.first_bad = line[:200]
        self.bad_lines += 1


def _number(token: str) -> float:
    """A Go-style float (``+Inf``, ``NaN``, ``1e3``); ValueError for anything else."""
    if "_" in token:  # Python's float() takes 1_000, Prometheus does not
        raise ValueError(token)
    return float(token)


def _labels(line: str, pos: int) -> tuple[dict[str, str], int]:
    """The label set starting after ``{`` at ``pos``; the position after ``}``."""
    labels: dict[str, str] = {}
    while True:
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] == "}":
            return labels, pos + 1
        m = _LABEL.match(line, pos)
        if m is None or m.group(1) in labels:
            raise ValueError("bad label set")
        labels[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
        if pos < len(line) and line[pos] == ",":
            pos += 1
        elif pos >= len(line) or line[pos] != "}":
            raise ValueError("bad label set")


def _sample(line: str) -> tuple[str, dict[str, str], float, str | None]:
    """``(metric, labels, value, series)`` of one sample line (``series``: its name when the
    line already has it, labels sorted and nothing to escape); ValueError when it is not one."""
    m = _FAST.fullmatch(line)
    if m is None:
        return (*_sample_slowly(line), None)
    # the usual line: no escapes, spaces or exemplar
    metric, block, value, stamp = m.groups()
    if stamp is not None:
        _number(stamp)
    if not block:
        return metric, {}, _number(value), metric
    pairs = _PAIR.findall(block)
    labels = dict(pairs)
    if len(labels) != len(pairs):
        raise ValueError("a label twice")
    ordered = block[-1] != "," and pairs == sorted(pairs)
    return metric, labels, _number(value), f"{metric}{{{block}}}" if ordered else None


def _sample_slowly(line: str) -> tuple[str, dict[str, str], float]:
    m = _METRIC.match(line)
    if m is None:
        raise ValueError("no metric name")
    metric, pos = m.group(0), m.end()
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        labels, pos = _labels(line, pos + 1)
    rest = line[pos:]
    if rest[:1] not in (" ", "\t"):
        raise ValueError("no value")
    rest = rest.split(" # ", 1)[0]  # an OpenMetrics exemplar
    tokens = rest.split()
    if not 1 <= len(tokens) <= 2:
        raise ValueError("bad value")
    value = _number(tokens[0])
    if len(tokens) == 2:
        _number(tokens[1])  # a timestamp: checked, not used
    return metric, labels, value


def _kind(metric: str, types: Mapping[str, str]) -> Kind | None:
    """The kind of a sample of ``metric`` given the ``# TYPE`` lines read so far (None: drop)."""
    family = types.get(metric)
    if family is not None:
        table = _SUFFIX_KIND.get(family)
        if table is not None and "" in table:
            return table[""]
        if family == "counter":
            return "counter"
        return "counter" if family in ("untyped", "unknown") and metric.endswith("_total") \
            else "gauge"
    for suffix in _SUFFIXES:
        if metric.endswith(suffix):
            family = types.get(metric[: -len(suffix)])
            table = _SUFFIX_KIND.get(family or "")
            if table is not None and suffix in table:
                return table[suffix]
    return "counter" if metric.endswith("_total") else "gauge"


def _comment(line: str, types: dict[str, str], kinds: dict[str, Kind | None]) -> bool:
    """Read a ``#`` line (a ``# TYPE`` forgets the kinds found so far); True at ``# EOF``."""
    parts = line.split(None, 3)
    if len(parts) >= 2 and parts[1] == "EOF" and len(parts) == 2:
        return True
    if len(parts) >= 4 and parts[1] == "TYPE" and parts[3].strip() in _TYPES:
        types[parts[2]] = parts[3].strip()
        kinds.clear()
    return False


def _add_labels(own: dict[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    for name in extra.keys() & own.keys():
        own[f"exported_{name}"] = own.pop(name)
    own.update(extra)
    return own


def parse(text: str, keep: Keep | None = None, prefix: str = PREFIX,
          labels: Mapping[str, str] | None = None) -> Exposition:
    """The series of one Prometheus text or OpenMetrics exposition (see the module's doc).

    ``keep(metric, series, kind)`` (default: every sample) decides which samples are kept;
    ``series`` is ``metric{labels}`` without the prefix. ``labels`` are added to every sample (a
    sample's own label of the same name becomes ``exported_<name>``, as in Prometheus). Never
    raises on bad text: bad lines are counted in :attr:`Exposition.bad_lines`; nothing after
    ``# EOF`` is read. (:class:`Parser` reads the same in parts.)
    """
    parser = Parser(keep, prefix, labels)
    parser.feed(text.split("\n"))
    return parser.out


class Parser:
    """:func:`parse` in parts: :meth:`feed` lines as they come (a caller on an event loop can
    yield between parts), then read :attr:`out`."""

    def __init__(self, keep: Keep | None = None, prefix: str = PREFIX,
                 labels: Mapping[str, str] | None = None) -> None:
        self.keep, self.prefix, self.labels = keep, prefix, dict(labels or {})
        self.out = Exposition()
        self.done = False  #: ``# EOF`` was read: more lines are ignored
        self._types: dict[str, str] = {}
        self._kinds: dict[str, Kind | None] = {}  # metric -> kind, until the next # TYPE

    def feed(self, lines: Iterable[str]) -> None:
        """Read these lines (without their ``\\n``)."""
        out, keep, prefix, labels, kinds = (self.out, self.keep, self.prefix, self.labels,
                                            self._kinds)
        for raw in lines:
            if self.done:
                return
            line = raw.rstrip("\r")
            if not line.strip():
                continue
            if line.startswith("#"):
                self.done = _comment(line, self._types, kinds)
                continue
            try:
                metric, own, value, series = _sample(line.lstrip(" \t"))
            except ValueError:
                out.bad(line)
                continue
            kind = kinds[metric] if metric in kinds else kinds.setdefault(
                metric, _kind(metric, self._types))
            if kind is None:
                continue
            if labels:
                series = series_name(metric, _add_labels(own, labels), prefix="")
            elif series is None:
                series = series_name(metric, own, prefix="")
            if keep is None or keep(metric, series, kind):
                out.samples[prefix + series] = (kind, value)


def make_filter(match: str | None = None) -> Keep:
    """The series filter: with ``match`` (a regular expression, ValueError when it is not one)
    the series whose ``metric{labels}`` it matches; without, every counter but histogram buckets
    and the gauges of :data:`DEFAULT_MATCH`."""
    if match is not None:
        try:
            pattern = re.compile(match)
        except re.error as exc:
            raise ValueError(f"scrape match is not a regular expression: {match!r}: {exc}") \
                from None
        return lambda metric, series, kind: pattern.search(series) is not None
    default = re.compile(DEFAULT_MATCH)

    def keep(metric: str, series: str, kind: Kind) -> bool:
        if kind == "counter":
            return not metric.endswith("_bucket")
        return default.match(metric) is not None

    return keep


class Rates:
    """Consecutive scrapes of one target into values: gauges as read, counters as per-second
    rates since the previous scrape given. A counter lower than before was reset (the target
    restarted): its increase is its new value. In the first scrape a counter has no rate (NaN);
    a counter that appears in a later one started from 0 since the scrape before (a new path, a
    new status: counters are made at 0)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._last_t = math.nan
        self._scraped = False

    def update(self, t: float, samples: Mapping[str, Sample]) -> dict[str, float]:
        """The values of the scrape made at ``t`` (seconds, any monotonic clock)."""
        dt = t - self._last_t
        out: dict[str, float] = {}
        last = self._last
        for series, (kind, value) in samples.items():
            if kind == "gauge":
                out[series] = value
                continue
            prev = last.get(series, 0.0 if self._scraped else None)
            if prev is None or not dt > 0:
                out[series] = math.nan
            else:
                out[series] = (value - prev if value >= prev else value) / dt
        self._last = {s: v for s, (k, v) in samples.items() if k == "counter"}
        self._last_t = t
        self._scraped = True
        return out
