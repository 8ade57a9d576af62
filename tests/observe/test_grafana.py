"""The Grafana dashboard in contrib/grafana/loadnb.json: valid JSON that Grafana can import, a
``run_id`` variable, and queries that use only the series the exporter serves, each filtered by
the run. (tests/observe/test_prometheus.py runs every query against a real Prometheus.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from loadnb.observe.exporter import render
from loadnb.observe.exposition import parse
from loadnb.observe.feed import BOUNDS, LoadMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "contrib" / "grafana" / "loadnb.json"


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def queries() -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def test_the_dashboard_is_importable() -> None:
    d = dashboard()
    assert d["title"] and d["uid"] and isinstance(d["schemaVersion"], int)
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for panel in d["panels"]:
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(t["refId"] for t in panel["targets"])
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["run_id"]["definition"] == "label_values(loadnb_requests_total, run_id)"


def test_every_query_reads_exported_series_of_the_chosen_runs() -> None:
    metrics = LoadMetrics("r")
    from .test_exporter import totals

    metrics.update({"a": totals(3, 1)}, 1, 1, 1)
    exported = {s.split("{")[0] for s in parse(render(metrics.current, BOUNDS), prefix="").samples}
    used: set[str] = set()
    for expr in queries():
        names = set(re.findall(r"\bloadnb_\w+", expr))
        assert names and names <= exported, (expr, names - exported)
        used |= names
        assert expr.count("loadnb_") == expr.count('run_id=~"$run_id"'), expr
    assert {"loadnb_requests_total", "loadnb_request_duration_seconds_bucket",
            "loadnb_active_users", "loadnb_in_flight", "loadnb_dropped_arrivals_total"} <= used
    assert sum("histogram_quantile" in q for q in queries()) == 3
