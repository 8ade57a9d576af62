"""What the report and ``compare`` show of the target's series and the slowest traced requests.

:func:`server_table` sums each ``server.*`` series of a run up (mean, max and last over the
intervals it has values in); :func:`slowest_table` lists the slowest traced requests (the
slowest of each interval, slowest first, at most :data:`SLOWEST_SHOWN`), with a link to the
tracing UI when the run was given ``trace_url``; :func:`server_metrics` picks the metrics the
report charts (at most :data:`MAX_SERVER_CHARTS`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..text.numbers import number

__all__ = ["MAX_SERVER_CHARTS", "SLOWEST_SHOWN", "metric_of", "server_metrics", "server_table",
           "slowest_table", "trace_url_of"]

MAX_SERVER_CHARTS = 6  #: server metrics charted in a report (all are in its tables)
SLOWEST_SHOWN = 20  #: slowest requests listed per run in a report


def metric_of(series: str) -> str:
    """``server.m{a="b"}`` → ``server.m``."""
    return series.split("{", 1)[0]


def server_table(server: pd.DataFrame) -> pd.DataFrame:
    """One row per series: ``series, mean, max, last, intervals`` (counters are rates)."""
    columns = ["series", "mean", "max", "last", "intervals"]
    if server.empty:
        return pd.DataFrame(columns=columns)
    grouped = server.groupby("series", sort=False)["value"]
    out = pd.DataFrame({"mean": grouped.mean(), "max": grouped.max(), "last": grouped.last(),
                        "intervals": grouped.count()})
    return out.reset_index()[columns]


def server_metrics(frames: list[pd.DataFrame]) -> list[str]:
    """The metrics charted (the runs' first :data:`MAX_SERVER_CHARTS`, in order seen)."""
    seen: dict[str, None] = {}
    for frame in frames:
        for series in frame.get("series", []):
            seen.setdefault(metric_of(str(series)), None)
    return list(seen)[:MAX_SERVER_CHARTS]


def trace_url_of(summary: Mapping[str, Any]) -> str | None:
    """The run's ``trace_url`` template, if it was given one."""
    observe = summary.get("parameters", {}).get("observe") or {}
    url = observe.get("trace_url") if isinstance(observe, Mapping) else None
    return url if isinstance(url, str) and "{trace_id}" in url else None


def slowest_table(slowest: pd.DataFrame, trace_url: str | None) -> str:
    """The slowest traced requests as an HTML table (escaped; trace ids linked with
    ``trace_url``), slowest first; empty text when the run traced nothing."""
    if slowest.empty:
        return ""
    top = slowest.sort_values("latency_ms", ascending=False, kind="stable").head(SLOWEST_SHOWN)
    rows = []
    for t, name, latency, trace_id in top.itertuples(index=False):
        shown = html.escape(str(trace_id))
        if trace_url is not None:
            href = html.escape(trace_url.replace("{trace_id}", str(trace_id)), quote=True)
            shown = f"<a href=\"{href}\">{shown}</a>"
        rows.append(f"<tr><td>{number(float(t), 1)}</td><td>{html.escape(str(name))}</td>"
                    f"<td>{number(float(latency), 2)}</td><td>{shown}</td></tr>")
    head = "".join(f"<th>{c}</th>" for c in ("elapsed (s)", "name", "latency (ms)", "trace id"))
    return ("<table><caption>Slowest requests (traced)</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
