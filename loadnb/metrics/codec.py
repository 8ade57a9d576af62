"""The one codec: interval stats, custom metrics, message counts, histograms, source statuses and
payloads as plain data and back, exactly; the Dask payloads, the exports and the history all go
through it.

Plain data is a dict per object with its dataclass fields by name, in field order: numbers and
text as they are, a :class:`~loadnb.metrics.histogram.Histogram` as its
:meth:`~loadnb.metrics.histogram.Histogram.encode` ``bytes``, a dict with str keys (status
codes' int keys as text), a list for a list or a tuple, a nested object as its own dict. It is
derived from the dataclass fields and their types, so a new counter field needs no edit here.

A :class:`Carrier` says what a medium does with it, at its edge only:

- :data:`MSGPACK` (the Dask payloads): the plain data as it is, a payload's stats packed by
  column (:mod:`~loadnb.metrics.packed`: the driver merges a thousand workers' in a few numpy
  passes);
- the exports' JSON carrier (:mod:`loadnb.results.export`): bytes as base64 text;
- the history's SQLite carrier (:mod:`loadnb.history.store`): one column per field, by name;
  bytes zlib-compressed, nested values as JSON text, text redacted.

One rule for what a medium cannot hold (NaN, infinities: JSON, SQL) and for what an older file
lacks: such a value is written as ``None`` and a ``None`` or missing value reads back as the
field's default (a custom metric's ``last`` is NaN, ``min`` +inf, ``max`` -inf). No field of
these objects holds None itself. A field whose metadata names ``kinds`` is kept only for those
kinds of metric (a counter's or a gauge's ``hist`` is ``None``).

>>> back = decode(IntervalStats, encode(IntervalStats("GET /", started=3, status={200: 3})))
>>> back.started, back.status
(3, {200: 3})
"""

from __future__ import annotations

import dataclasses
import linecache
import math
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .connections import ConnectStats
from .custom import CustomMetric
from .histogram import Histogram
from .messages import MessageStats
from .packed import pack_stats, unpack_stats
from .payload import Payload, SourceStatus
from .stats import IntervalStats

Plain = dict[str, Any]
T = TypeVar("T")
Convert = Callable[[Any], Any]
#: The objects the codec knows (every field of theirs, by type).
TYPES: tuple[type, ...] = (IntervalStats, CustomMetric, MessageStats, SourceStatus, ConnectStats,
                           Payload)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class Carrier:
    """What a medium does with plain data, at its edge: ``blob_out``/``blob_in`` turn bytes
    into its form and back, ``nested_out``/``nested_in`` a dict or list (of plain values),
    ``text_out`` a text; ``finite`` writes non-finite floats as ``None``. None: as it is."""

    __slots__ = ("name", "blob_out", "blob_in", "nested_out", "nested_in", "text_out", "finite",
                 "_writers", "_readers")

    def __init__(self, name: str, *, blob_out: Convert | None = None,
                 blob_in: Convert | None = None, nested_out: Convert | None = None,
                 nested_in: Convert | None = None, text_out: Convert | None = None,
                 finite: bool = False) -> None:
        self.name, self.finite = name, finite
        self.blob_out, self.blob_in, self.text_out = blob_out, blob_in, text_out
        self.nested_out, self.nested_in = nested_out, nested_in
        self._writers: dict[type, Callable[[Any], Plain]] = {}
        self._readers: dict[type, Callable[[Mapping[str, Any]], Any]] = {}

    def __repr__(self) -> str:
        return f"<carrier {self.name}>"


#: The Dask payloads' carrier (msgpack holds the plain data as it is).
MSGPACK = Carrier("msgpack")


def encode(obj: Any, carrier: Carrier = MSGPACK) -> Plain:
    """``obj`` (one of :data:`TYPES`) as ``carrier`` holds it: a dict by field name."""
    write = carrier._writers.get(type(obj))
    if write is None:
        write = carrier._writers[type(obj)] = _writer(type(obj), carrier)
    return write(obj)


def decode(cls: type[T], data: Mapping[str, Any], carrier: Carrier = MSGPACK) -> T:
    """The inverse of :func:`encode`: a ``cls`` from ``data`` (extra keys ignored; a missing or
    None value is the field's default)."""
    read = carrier._readers.get(cls)
    if read is None:
        read = carrier._readers[cls] = _reader(cls, carrier)
    value: T = read(data)
    return value


def decode_histogram(data: Any, carrier: Carrier = MSGPACK) -> Histogram:
    """One histogram as ``carrier`` holds it (e.g. one column of the history)."""
    return Histogram.decode(data if carrier.blob_in is None else carrier.blob_in(data))


def field_names(cls: type) -> tuple[str, ...]:
    """The keys of ``cls``'s plain data (its fields, in order): the history's column names."""
    return tuple(f.name for f in dataclasses.fields(cls))


def encode_payload(payload: Payload) -> Plain:
    """A payload as msgpack-able plain data (what a Dask worker publishes): its stats packed by
    column (:func:`~loadnb.metrics.packed.pack_stats`, under ``"packed"``), its status and custom
    metrics as :func:`encode` writes them."""
    return {"packed": pack_stats(payload.stats), "status": encode(payload.status),
            "custom": {name: encode(m) for name, m in payload.custom.items()},
            "connections": encode(payload.connections),
            "messages": {name: encode(m) for name, m in payload.messages.items()},
            "slowest": [list(row) for row in payload.slowest]}


def decode_payload(data: Mapping[str, Any]) -> Payload:
    """The inverse of :func:`encode_payload` (what the driver receives); a payload of an older
    loadnb (stats by name, ``"stats"``) reads too."""
    if "packed" not in data:
        return decode(Payload, data)
    return Payload(unpack_stats(data["packed"]), decode(SourceStatus, data["status"]),
                   {name: decode(CustomMetric, m) for name, m in data["custom"].items()},
                   **decode_streams(data))


def decode_streams(data: Mapping[str, Any]) -> dict[str, Any]:
    """A packed payload's ``connections``, ``messages`` and ``slowest`` (empty in an older
    loadnb's)."""
    plain = data.get("connections")
    return {"connections": ConnectStats() if plain is None else decode(ConnectStats, plain),
            "messages": {name: decode(MessageStats, m)
                         for name, m in (data.get("messages") or {}).items()},
            "slowest": [(float(t), str(n), float(lat), str(tid))
                        for t, n, lat, tid in data.get("slowest") or ()]}


# -- one writer and one reader per (type, carrier), generated once from the fields -------------
# Like dataclasses' own __init__, the source is written from the fields and compiled once: a
# dict display to write, one positional call with a test per field to read; as fast as a
# hand-written codec (the Dask driver decodes every worker's payload at every tick).
def _fields(cls: type) -> list[tuple[str, Any, tuple[str, ...] | None]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name], f.metadata.get("kinds")) for f in dataclasses.fields(cls)]


def _compile(name: str, lines: list[str], env: dict[str, Any]) -> Any:
    """The function ``name`` defined by ``lines`` (its names looked up in ``env``); its source
    kept for tracebacks."""
    filename, source = f"<loadnb.metrics.codec {name}>", "\n".join(lines) + "\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), env)
    return env[name]


def _writer(cls: type, carrier: Carrier) -> Callable[[Any], Plain]:
    env: dict[str, Any] = {}
    items = []
    for i, (key, tp, kinds) in enumerate(_fields(cls)):
        value, convert = f"obj.{key}", _out(tp, carrier, top=True)
        if convert is not None:
            env[f"c{i}"], value = convert, f"c{i}({value})"
        if kinds is not None:  # kept for those kinds of metric only
            env[f"k{i}"], value = kinds, f"({value} if obj.kind in k{i} else None)"
        items.append(f"{key!r}: {value}")
    name = f"write_{cls.__name__}"
    writer: Callable[[Any], Plain] = _compile(
        name, [f"def {name}(obj):", f"    return {{{', '.join(items)}}}"], env)
    return writer


def _reader(cls: type, carrier: Carrier) -> Callable[[Mapping[str, Any]], Any]:
    env: dict[str, Any] = {"cls": cls}
    args = []
    for i, (f, (key, tp, _)) in enumerate(zip(dataclasses.fields(cls), _fields(cls),
                                              strict=True)):
        convert = _in(tp, carrier, top=True)
        if convert is not None:
            env[f"c{i}"] = convert
        if f.default is not dataclasses.MISSING:  # None or missing: the field's default
            env[f"d{i}"], default = f.default, f"d{i}"
        elif f.default_factory is not dataclasses.MISSING:
            env[f"d{i}"], default = f.default_factory, f"d{i}()"
        else:  # a field without a default: it must be there
            args.append(f"data[{key!r}]" if convert is None else f"c{i}(data[{key!r}])")
            continue
        value = "v" if convert is None else f"c{i}(v)"
        args.append(f"({value} if (v := get({key!r})) is not None else {default})")
    name = f"read_{cls.__name__}"
    reader: Callable[[Mapping[str, Any]], Any] = _compile(name, [
        f"def {name}(data):", "    get = data.get", f"    return cls({', '.join(args)})"], env)
    return reader


def _out(tp: Any, carrier: Carrier, *, top: bool = False) -> Convert | None:
    """The converter of a value of type ``tp`` to plain data (None: as it is)."""
    if tp is Histogram:
        blob = carrier.blob_out
        return Histogram.encode if blob is None else lambda h: blob(h.encode())
    if tp is str:
        return carrier.text_out if top else None
    if tp is float:
        return _finite if carrier.finite and top else None
    if dataclasses.is_dataclass(tp):
        return lambda obj: encode(obj, carrier)
    if tp in (int, bool):
        return None
    origin, args = _container(tp)
    return _nested(_container_out(origin, args, carrier), carrier.nested_out, args, top, out=True)


def _container(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """``dict``, ``list`` or ``tuple`` and the types in it; TypeError for any other type (a new
    kind of field fails at its first encoding, not silently)."""
    origin = typing.get_origin(tp)
    if origin not in (dict, list, tuple):
        raise TypeError(f"the codec holds numbers, text, histograms, dicts, lists, tuples and "
                        f"{', '.join(t.__name__ for t in TYPES)}; not {tp!r}")
    return origin, typing.get_args(tp)


def _nested(convert: Convert, nested: Convert | None, args: tuple[Any, ...], top: bool, *,
            out: bool) -> Convert:
    """A field's container through the carrier's nested form (JSON text in SQLite), unless it
    holds objects (a payload's stats) or is inside another container."""
    if not top or nested is None or any(dataclasses.is_dataclass(a) for a in args):
        return convert
    through: Convert = nested
    return (lambda value: through(convert(value))) if out else (
        lambda value: convert(through(value)))


def _container_out(origin: Any, args: tuple[Any, ...], carrier: Carrier) -> Convert:
    if origin is dict:
        text, inner = args[0] is str, _out(args[1], carrier)
        if inner is None:
            return dict if text else lambda d: {str(k): v for k, v in d.items()}
        value: Convert = inner
        if text:
            return lambda d: {k: value(v) for k, v in d.items()}
        return lambda d: {str(k): value(v) for k, v in d.items()}
    if origin is tuple and Ellipsis not in args:  # a fixed tuple: a list, position by position
        inners = [_out(a, carrier) for a in args]
        if all(c is None for c in inners):
            return list
        return lambda seq: [v if c is None else c(v) for c, v in zip(inners, seq, strict=True)]
    inner = _out(args[0], carrier)
    if inner is None:
        return list
    item: Convert = inner
    return lambda seq: [item(v) for v in seq]


def _in(tp: Any, carrier: Carrier, *, top: bool = False) -> Convert | None:
    """The converter of plain data back to a value of type ``tp`` (None: as it is)."""
    if tp is Histogram:
        blob = carrier.blob_in
        return Histogram.decode if blob is None else lambda b: Histogram.decode(blob(b))
    if tp is float:
        return float
    if dataclasses.is_dataclass(tp):
        cls = typing.cast(type, tp)
        return lambda data: decode(cls, data, carrier)
    if tp in (int, bool, str):
        return None
    origin, args = _container(tp)
    return _nested(_container_in(origin, args, carrier), carrier.nested_in, args, top, out=False)


def _container_in(origin: Any, args: tuple[Any, ...], carrier: Carrier) -> Convert:
    if origin is dict:
        key: Convert | None = None if args[0] is str else args[0]
        inner = _in(args[1], carrier)
        if inner is None:
            return dict if key is None else lambda d: {key(k): v for k, v in d.items()}
        value: Convert = inner
        if key is None:
            return lambda d: {k: value(v) for k, v in d.items()}
        return lambda d: {key(k): value(v) for k, v in d.items()}
    if origin is tuple and Ellipsis not in args:  # a fixed tuple, position by position
        inners = [_in(a, carrier) for a in args]
        return lambda seq: tuple(v if c is None else c(v)
                                 for c, v in zip(inners, seq, strict=True))
    inner = _in(args[0], carrier)
    made: Convert = tuple if origin is tuple else list
    if inner is None:
        return made
    item: Convert = inner
    return lambda seq: made(item(v) for v in seq)


__all__ = ["MSGPACK", "TYPES", "Carrier", "Plain", "decode", "decode_histogram", "decode_streams",
           "decode_payload", "encode", "encode_payload", "field_names"]
