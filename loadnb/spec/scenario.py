"""Scenarios: user journeys in plain async Python, with weights, checks and data.

A scenario is an async function that receives a :class:`VirtualUser`, or a mapping of such
functions to weights (each iteration picks one)::

    async def browse(user):
        items = await user.get("/api/items", expect_status=200)
        first = items.json()[0]["id"]
        await user.get(f"/api/items/{first}", name="/api/items/{id}")

    loadnb.run("http://127.0.0.1:8000", scenario={browse: 3, buy: 1}, users=10)

Every request is recorded under its ``name`` (default: method and path). A failed check counts the
request as failed with the kind ``check failed: <check>``. An exception raised by the scenario code
ends that iteration and counts as one failed iteration under the task's name
(``exception: <Type>``, with a capped traceback as the sample); the run goes on.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import inspect
import json
import os
import random
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..text.redact import split_credentials
from .validate import check_url

#: A scenario task: an async function of a :class:`~loadnb.engine.vuser.VirtualUser` (typed ``Any``
#: here so that this module, which config imports, does not import the user and its client).
Task = Callable[[Any], Awaitable[Any]]
DATA_MODES = ("cycle", "once", "random")
#: The data files :func:`read_data_file` reads, by extension.
DATA_FORMATS = (".csv", ".jsonl", ".ndjson")
_JSON_KINDS = {list: "array", str: "string", bool: "boolean", type(None): "null"}


@dataclass(frozen=True)
class Scenario:
    """Weighted async tasks. Build with :func:`as_scenario`."""

    tasks: tuple[Task, ...]
    weights: tuple[float, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Task names (their function names), used for iteration failures."""
        return tuple(getattr(t, "__name__", "task") for t in self.tasks)

    def pick(self, rng: random.Random) -> tuple[str, Task]:
        """One task, drawn by weight."""
        if len(self.tasks) == 1:
            return self.names[0], self.tasks[0]
        i = rng.choices(range(len(self.tasks)), weights=self.weights)[0]
        return self.names[i], self.tasks[i]


def as_scenario(obj: object) -> Scenario:
    """A :class:`Scenario` from an async function or a mapping of async functions to weights."""
    if isinstance(obj, Scenario):
        return obj
    items: list[tuple[object, object]]
    if isinstance(obj, Mapping):
        items = list(obj.items())
        if not items:
            raise ValueError("scenario: the mapping of tasks to weights is empty")
    else:
        items = [(obj, 1)]
    tasks, weights = [], []
    for task, weight in items:
        if not inspect.iscoroutinefunction(task):
            raise ValueError(f"scenario: {getattr(task, '__name__', task)!r} is not an async "
                             "function (define it with `async def name(user): ...`)")
        if (isinstance(weight, bool) or not isinstance(weight, int | float)
                or not weight > 0 or weight == float("inf")):
            raise ValueError(f"scenario: the weight of {task.__name__!r} must be a number > 0, "
                             f"got {weight!r}")
        tasks.append(task)
        weights.append(float(weight))
    return Scenario(tuple(tasks), tuple(weights))


def load_scenario(ref: str) -> Scenario:
    """The scenario named by ``path/to/file.py:name`` (the CLI's ``--scenario``).

    The file runs as a module of its own, named after its path and text
    (``loadnb_scenario_<hash>``), which keeps the text it ran as ``__loadnb_source__`` =
    ``(path, text)``: scale-out ships it to the workers, which run the same text (they need not
    see the file).
    """
    path_text, sep, name = ref.rpartition(":")
    if not sep or not path_text or not name:
        raise ValueError(f"--scenario {ref!r}: expected path/to/file.py:name")
    path = Path(path_text)
    if not path.is_file():
        raise ValueError(f"--scenario {ref!r}: no such file {path_text!r}")
    file = str(path.resolve())
    try:
        source = importlib.util.decode_source(path.read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--scenario {ref!r}: cannot read {path_text!r}: {exc}") from None
    digest = hashlib.sha256(f"{file}\0{source}".encode()).hexdigest()[:20]
    module_name = f"loadnb_scenario_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None:
        raise ValueError(f"--scenario {ref!r}: cannot load {path_text!r} as Python")
    module = importlib.util.module_from_spec(spec)
    module.__loadnb_source__ = (file, source)  # type: ignore[attr-defined]
    sys.modules[module_name] = module
    try:
        exec(compile(source, file, "exec"), module.__dict__)  # noqa: S102 - as import would
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ValueError(f"--scenario {ref!r}: the file failed to import: "
                         f"{type(exc).__name__}: {exc}") from None
    if not hasattr(module, name):
        raise ValueError(f"--scenario {ref!r}: {path_text!r} has no {name!r}")
    return as_scenario(getattr(module, name))


class DataExhausted(Exception):
    """Raised by a ``once`` feeder when every row has been used."""


@dataclass
class Feeder:
    """Hands rows to iterations: each row ``once``, ``cycle`` through them, or ``random``."""

    rows: list[Any]
    mode: str = "cycle"
    rng: random.Random = field(default_factory=random.Random)
    _next: int = 0

    def next(self) -> Any:
        """The next row for an iteration."""
        if self.mode == "random":
            return self.rng.choice(self.rows)
        if self._next >= len(self.rows):
            if self.mode == "once":
                raise DataExhausted("every data row has been used")
            self._next = 0
        row = self.rows[self._next]
        self._next += 1
        return row


def _csv_rows(fh: Iterable[str]) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts keyed by its header (the first non-blank line); ValueError
    naming the line when a row does not fit the header."""
    reader = csv.reader(fh)
    lines = (line for line in reader if line)  # blank lines are skipped
    header = next(lines, None)
    if header is None:
        raise ValueError("is empty (a CSV file starts with a header row)")
    names = [name.strip() for name in header]
    if "" in names:
        raise ValueError("the header row has an empty column name")
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise ValueError(f"the header row names {twice!r} twice")
    rows = []
    for line in lines:
        if len(line) != len(names):
            raise ValueError(f"line {reader.line_num} has {len(line)} field(s), the header "
                             f"{len(names)}")
        rows.append(dict(zip(names, line, strict=True)))
    if not rows:
        raise ValueError("has a header but no rows")
    return rows


def _json_lines_rows(fh: Iterable[str]) -> list[dict[str, Any]]:
    """Rows of a JSON Lines file: one JSON object per line (blank lines are skipped)."""
    rows = []
    for number, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number} is not JSON ({getattr(exc, 'msg', exc)})") from None
        if not isinstance(row, dict):
            raise ValueError(f"line {number} is a JSON {_JSON_KINDS.get(type(row), 'number')}, "
                             "not an object")
        rows.append(row)
    if not rows:
        raise ValueError("has no rows")
    return rows


def read_data_file(path: str | os.PathLike[str], what: str = "data") -> list[dict[str, Any]]:
    """The rows of a data file, by its extension: ``.csv`` (the first line is the header: one
    dict of text per row) or ``.jsonl`` / ``.ndjson`` (JSON Lines: one JSON object per line).

    One :class:`ValueError` naming ``what``, the file and the line when it is missing, unreadable,
    empty or malformed. The CLI's ``--data`` and ``make_spec(data=path)`` both read through this.
    """
    shown = f"{what} {os.fspath(path)!r}"
    suffix = Path(path).suffix.lower()
    if suffix not in DATA_FORMATS:
        raise ValueError(f"{shown}: must end in {', '.join(DATA_FORMATS[:-1])} or "
                         f"{DATA_FORMATS[-1]}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return _csv_rows(fh) if suffix == ".csv" else _json_lines_rows(fh)
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {os.fspath(path)!r}: "
                         f"{exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{shown}: not CSV ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"{shown}: {exc}") from None


def check_data_mode(mode: object) -> str:
    """``mode`` if it is one of :data:`DATA_MODES`, else a ``ValueError`` naming them."""
    if mode not in DATA_MODES:
        raise ValueError(f"data_mode must be one of {', '.join(DATA_MODES)}, got {mode!r}")
    return str(mode)


def make_feeder(data: object, mode: str, seed: int | None = None) -> Feeder:
    """A :class:`Feeder` from a DataFrame (rows as dicts), a data file's path (``.csv``,
    ``.jsonl``, ``.ndjson``: :func:`read_data_file`), or any iterable of rows."""
    check_data_mode(mode)
    rows: list[Any]
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        rows = list(data.to_dict("records"))
    elif isinstance(data, str | os.PathLike):
        rows = list(read_data_file(data))
    elif isinstance(data, Iterable) and not isinstance(data, bytes | Mapping):
        rows = list(data)
    else:
        raise ValueError("data must be a DataFrame, a data file's path or an iterable of rows, "
                         f"got {type(data).__name__}")
    if not rows:
        raise ValueError("data has no rows")
    return Feeder(rows, mode, random.Random(seed))


def is_scenario(obj: object) -> bool:
    """Whether ``obj`` is given as a scenario (an async function, a mapping of them, a
    :class:`~loadnb.spec.scenario.Scenario`) rather than as a URL."""
    return isinstance(obj, Scenario | Mapping) or (callable(obj) and not isinstance(obj, str))


def split_url_or_scenario(
    url_or_scenario: object, url: object, scenario: object
) -> tuple[Any, Any]:
    """``(url, scenario)`` from ``LoadTest(url_or_scenario, url=…, scenario=…)``.

    The first argument is a URL, or a scenario whose base URL is then ``url=``. Anything else is
    left to :func:`~loadnb.spec.config.make_spec` to reject, with its own message.
    """
    if url_or_scenario is None:
        return url, scenario
    if is_scenario(url_or_scenario):
        if scenario is not None:
            raise ValueError("give the scenario once: as the first argument or as scenario=, "
                             "not both")
        return url, url_or_scenario
    if url is not None:
        raise ValueError("give the URL once: as the first argument or as url=, not both")
    return url_or_scenario, scenario


def target_fields(url: str | None, headers: dict[str, str], scenario: object, data: object,
                  data_mode: str, seed: int | None) -> dict[str, Any]:
    """The target fields of a :class:`~loadnb.spec.config.LoadSpec`: ``url`` (checked, its
    credentials moved into ``headers``), ``scenario`` and its data rows."""
    checked = None if scenario is None else as_scenario(scenario)
    url = "" if url is None and checked is not None else check_url(url)
    check_data_mode(data_mode)  # also without data: a typo is not silently accepted
    if data is not None and checked is None:
        raise ValueError("data feeds a scenario: pass scenario=… as well")
    rows = None if data is None else tuple(make_feeder(data, data_mode, seed).rows)
    return {"url": split_credentials(url, headers) if url else url, "scenario": checked,
            "data_rows": rows, "data_mode": data_mode}


__all__ = ["DATA_FORMATS", "DATA_MODES", "DataExhausted", "Feeder", "Scenario", "as_scenario",
           "check_data_mode", "is_scenario", "load_scenario", "make_feeder", "read_data_file",
           "split_url_or_scenario", "target_fields"]
