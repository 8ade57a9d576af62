"""Interval stats packed by column, and the merge of many packed intervals in a few numpy passes.

A Dask driver merges every worker's interval at every tick: per name and per worker, two
histograms of 2,400 buckets. Done object by object, that is 128,000 histograms a tick for 1,000
workers at 64 names (seconds of Python). Packed, one worker's interval is a handful of arrays:

- ``names``: its request names, in its own order (row ``i`` of every array below);
- ``ints``: ``<i8`` rows of :data:`INT_COLUMNS` (the counters, and both histograms' counts);
- ``floats``: ``<f8`` rows of :data:`FLOAT_COLUMNS` (the histograms' sum, min and max);
- ``lengths``, ``buckets``, ``counts``: the non-empty buckets of the latency then the service
  histogram of each name (``lengths`` per histogram, ``<u2`` bucket indices, counts in the
  narrowest unsigned type that holds them, ``ctype``);
- ``status_n``, ``status``: how many status codes each name has (``<u2``), and ``<i8`` pairs of
  code and count, name after name, each name's in its own order;
- ``extra``: ``[row, errors, samples, checks, iterations, iteration_errors]`` for the few names
  that have any of these.

:class:`PackedMerge` adds many packed intervals (from any number of workers, names in any order)
and gives back one :class:`~loadnb.metrics.stats.IntervalStats` per name: every count exact,
every histogram the exact sum of the parts (so percentiles keep their bounded error).

>>> from loadnb.metrics.histogram import Histogram
>>> iv = IntervalStats("GET /", started=2, completed=2, status={200: 2},
...                    latency=Histogram.from_seconds([0.01, 0.02]))
>>> merge = PackedMerge()
>>> merge.add(pack_stats({"GET /": iv})); merge.add(pack_stats({"GET /": iv}))
>>> back = merge.take().stats["GET /"]
>>> back.completed, back.status, back.latency.total
(4, {200: 4}, 4)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .histogram import N_BUCKETS, Histogram
from .stats import IntervalStats

#: The integer columns of a packed interval (``latency``/``service``: the histograms' counts).
INT_COLUMNS = ("started", "completed", "failed", "cancelled", "bytes", "corrected", "latency",
               "service")
#: The float columns: each histogram's sum (µs), min and max (s).
FLOAT_COLUMNS = ("latency_sum", "latency_min", "latency_max", "service_sum", "service_min",
                 "service_max")
#: The mappings a name carries only sometimes (``extra``).
EXTRA_FIELDS = ("errors", "samples", "checks", "iterations", "iteration_errors")
_CTYPES = ("<u1", "<u2", "<u4", "<u8")
#: Name orders remembered (one per distinct order the workers send; forgotten past this).
MAX_ORDERS = 4096
Ints = npt.NDArray[np.int64]


def is_packed(data: object) -> bool:
    """Whether ``data`` is a packed interval (as :func:`pack_stats` makes it)."""
    return isinstance(data, Mapping) and "ints" in data and "names" in data


def pack_stats(stats: Mapping[str, IntervalStats]) -> dict[str, Any]:
    """``stats`` (by name) packed by column (see the module docstring)."""
    ivs = list(stats.values())
    n = len(ivs)
    hists = [h for iv in ivs for h in (iv.latency, iv.service)]
    ints = np.array([(iv.started, iv.completed, iv.failed, iv.cancelled, iv.bytes, iv.corrected,
                      iv.latency.total, iv.service.total) for iv in ivs], "<i8").reshape(n, 8)
    floats = np.array([(h.sum_us, h.min_s, h.max_s) for h in hists], "<f8").reshape(n, 6)
    dense = np.stack([h.counts for h in hists]) if hists else np.zeros((0, N_BUCKETS), np.int64)
    rows, buckets = dense.nonzero()
    counts = dense[rows, buckets]
    top = int(counts.max()) if counts.size else 0
    ctype = next(t for t in _CTYPES if top <= np.iinfo(np.dtype(t)).max)
    codes = [(code, count) for iv in ivs for code, count in iv.status.items()]
    extra = [[i, *(getattr(iv, f) for f in EXTRA_FIELDS)] for i, iv in enumerate(ivs)
             if iv.errors or iv.samples or iv.checks or iv.iterations or iv.iteration_errors]
    return {"names": [iv.name for iv in ivs], "ints": ints.tobytes(), "floats": floats.tobytes(),
            "lengths": np.bincount(rows, minlength=2 * n).astype("<u2").tobytes(),
            "buckets": buckets.astype("<u2").tobytes(), "counts": counts.astype(ctype).tobytes(),
            "ctype": ctype, "status_n": np.array([len(iv.status) for iv in ivs], "<u2").tobytes(),
            "status": np.array(codes, "<i8").reshape(-1, 2).tobytes(), "extra": extra}


def unpack_stats(data: Mapping[str, Any]) -> dict[str, IntervalStats]:
    """The inverse of :func:`pack_stats`."""
    merge = PackedMerge()
    merge.add(data)
    return merge.take().stats


@dataclass
class Merged:
    """One merge: the stats by name, and the rows it added (the row's ``owner``, the name's
    ``slot`` in :attr:`PackedMerge.names`, its ``ints``), for accounting per owner."""

    stats: dict[str, IntervalStats]
    owners: Ints
    slots: Ints
    ints: Ints


class PackedMerge:
    """Adds packed intervals (:meth:`add`), then gives their sum per name (:meth:`take`) in a few
    numpy passes over all of them. Names get a slot, for good, on first sight (:attr:`names`)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._slot: dict[str, int] = {}
        self._orders: dict[tuple[str, ...], Ints] = {}
        self._reset()

    def _reset(self) -> None:
        self._parts: list[tuple[Ints, int, Mapping[str, Any]]] = []

    def slots_of(self, names: Sequence[str]) -> Ints:
        """The slots of ``names`` (new names get new slots)."""
        key = tuple(names)
        found = self._orders.get(key)
        if found is None:
            for name in key:
                if name not in self._slot:
                    self._slot[name] = len(self.names)
                    self.names.append(name)
            if len(self._orders) >= MAX_ORDERS:
                self._orders.clear()
            found = self._orders[key] = np.array([self._slot[x] for x in key], np.int64)
        return found

    def add(self, data: Mapping[str, Any], owner: int = 0) -> None:
        """Add one packed interval (from ``owner``, for :attr:`Merged.owners`)."""
        self._parts.append((self.slots_of(data["names"]), owner, data))

    def take(self) -> Merged:
        """The sum of everything added since the last take, per name."""
        parts, empty = self._parts, np.zeros(0, np.int64)
        self._reset()
        if not parts:
            return Merged({}, empty, empty, np.zeros((0, 8), np.int64))
        slots = np.concatenate([p[0] for p in parts])
        owners = np.repeat(np.array([p[1] for p in parts], np.int64),
                           [len(p[0]) for p in parts])
        ints = np.concatenate([np.frombuffer(p[2]["ints"], "<i8") for p in parts]).reshape(-1, 8)
        floats = np.concatenate([np.frombuffer(p[2]["floats"], "<f8") for p in parts])
        seen = np.bincount(slots, minlength=len(self.names)) > 0
        present, row = np.flatnonzero(seen), (np.cumsum(seen) - 1)[slots]  # no sort
        m = len(present)
        totals = np.zeros((m, 8), np.int64)
        np.add.at(totals, row, ints)
        hists = self._histograms(parts, row, m, floats.reshape(-1, 3))
        stats = {}
        for k, slot in enumerate(present.tolist()):
            t = totals[k]
            stats[self.names[slot]] = IntervalStats(
                self.names[slot], int(t[0]), int(t[1]), int(t[2]), int(t[3]), int(t[4]),
                int(t[5]), hists[2 * k], hists[2 * k + 1])
        self._status(parts, row, stats, present)
        self._extra(parts, stats)
        return Merged(stats, owners, slots, ints)

    def _histograms(self, parts: list[tuple[Ints, int, Mapping[str, Any]]], row: Ints, m: int,
                    heads: npt.NDArray[np.float64]) -> list[Histogram]:
        """Every name's latency and service histogram: all the parts' buckets in one bincount."""
        hrow = (2 * row[:, None] + np.arange(2)).ravel()  # histogram rows, latency then service
        lengths = np.concatenate([np.frombuffer(p[2]["lengths"], "<u2") for p in parts])
        buckets = np.concatenate([np.frombuffer(p[2]["buckets"], "<u2") for p in parts])
        counts = np.concatenate([np.frombuffer(p[2]["counts"], p[2]["ctype"]) for p in parts])
        keys = np.repeat(hrow * N_BUCKETS, lengths) + buckets
        # float64 weights: exact for any count below 2**53
        dense = np.bincount(keys, weights=counts, minlength=2 * m * N_BUCKETS).astype(np.int64)
        dense = dense.reshape(2 * m, N_BUCKETS)
        sums = np.bincount(hrow, weights=heads[:, 0], minlength=2 * m)
        mins, maxs = np.full(2 * m, np.inf), np.zeros(2 * m)
        np.minimum.at(mins, hrow, heads[:, 1])
        np.maximum.at(maxs, hrow, heads[:, 2])
        totals = dense.sum(axis=1)
        out = []
        for h in range(2 * m):
            hist = Histogram.__new__(Histogram)
            hist.counts, hist.total, hist.sum_us = dense[h], int(totals[h]), float(sums[h])
            hist.min_s, hist.max_s = float(mins[h]), float(maxs[h])
            out.append(hist)
        return out

    def _status(self, parts: list[tuple[Ints, int, Mapping[str, Any]]], row: Ints,
                stats: dict[str, IntervalStats], present: Ints) -> None:
        """Every name's status codes: one pass over all (name, code) pairs, each name's codes in
        the order they first came (as merging one by one would)."""
        n = np.concatenate([np.frombuffer(p[2]["status_n"], "<u2") for p in parts])
        pairs = np.concatenate([np.frombuffer(p[2]["status"], "<i8") for p in parts])
        if not pairs.size:
            return
        pairs = pairs.reshape(-1, 2)
        low, high = int(pairs[:, 0].min()), int(pairs[:, 0].max())
        if high - low < 4096:  # HTTP's codes: one bincount over (name, code), no sort
            codes, code_of = np.arange(low, high + 1), pairs[:, 0] - low
        else:
            codes, code_of = np.unique(pairs[:, 0], return_inverse=True)
        size = len(present) * len(codes)
        keys = np.repeat(row, n) * len(codes) + code_of
        sums = np.bincount(keys, weights=pairs[:, 1], minlength=size)  # exact below 2**53
        first = np.full(size, len(keys))
        np.minimum.at(first, keys, np.arange(len(keys)))
        got = np.flatnonzero(first < len(keys))
        for key in got[np.argsort(first[got], kind="stable")].tolist():
            r, c = divmod(key, len(codes))
            stats[self.names[int(present[r])]].status[int(codes[c])] = int(sums[key])

    def _extra(self, parts: list[tuple[Ints, int, Mapping[str, Any]]],
               stats: dict[str, IntervalStats]) -> None:
        """The few names' errors, samples, checks and iterations, merged one by one (as
        :meth:`~loadnb.metrics.stats.IntervalStats.merge` does)."""
        for _, _, data in parts:
            names = data["names"]
            for i, errors, samples, checks, iterations, iteration_errors in data["extra"]:
                iv = stats[names[i]]
                _add(iv.errors, errors)
                for kind, text in samples.items():
                    iv.samples.setdefault(kind, text)
                _add_pairs(iv.checks, checks)
                _add_pairs(iv.iterations, iterations)
                _add(iv.iteration_errors, iteration_errors)


def _add(into: dict[str, int], other: Mapping[str, int]) -> None:
    for key, n in other.items():
        into[key] = into.get(key, 0) + n


def _add_pairs(into: dict[str, list[int]], other: Mapping[str, Sequence[int]]) -> None:
    for key, (a, b) in other.items():
        mine = into.get(key)
        if mine is None:
            into[key] = [a, b]
        else:
            mine[0] += a
            mine[1] += b


__all__ = ["EXTRA_FIELDS", "FLOAT_COLUMNS", "INT_COLUMNS", "MAX_ORDERS", "Merged", "PackedMerge",
           "is_packed", "pack_stats", "unpack_stats"]
