"""Outputs of a run's summary: strict JSON values, JUnit XML (one test case per threshold) and a
Markdown summary.

Pure functions of the summary dict (the object ``loadnb run --json`` prints), so a stored run can
be rendered the same way. ``--junit FILE`` and ``--summary-md FILE`` write them; when the
``GITHUB_STEP_SUMMARY`` environment variable names a file, the Markdown is appended there too.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..text.numbers import is_number, trimmed


def _observed(value: Any) -> str:
    return trimmed(value) if is_number(value) else "no data"


def junit_xml(summary: Mapping[str, Any]) -> str:
    """JUnit XML: a ``loadnb`` suite with one test case per threshold (a failure carries the
    observed value); a run without thresholds is one test case that passes when the run ended
    as ``done`` or ``stopped``."""
    thresholds = list(summary.get("thresholds") or [])
    duration = float(summary.get("duration_s") or 0.0)
    suite = ET.Element("testsuite", name=f"loadnb {summary.get('url', '')}".strip(),
                       tests=str(max(1, len(thresholds))), time=f"{duration:.3f}",
                       timestamp=str(summary.get("started_at", "")))
    failures = 0
    for t in thresholds:
        case = ET.SubElement(suite, "testcase", classname="loadnb.rules.thresholds",
                             name=str(t.get("expr")), time=f"{duration:.3f}")
        if not t.get("passed"):
            failures += 1
            message = f"{t.get('expr')} failed: observed {_observed(t.get('observed'))}"
            failure = ET.SubElement(case, "failure", message=message, type="threshold")
            failure.text = message + _aborted(summary, t)
    if not thresholds:
        case = ET.SubElement(suite, "testcase", classname="loadnb.run", name="run",
                             time=f"{duration:.3f}")
        if summary.get("state") not in ("done", "stopped"):
            failures += 1
            ET.SubElement(case, "failure", message=f"the run {summary.get('state')}: "
                          f"{summary.get('error')}", type="run")
    suite.set("failures", str(failures))
    root = ET.Element("testsuites", tests=suite.get("tests", "0"), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _aborted(summary: Mapping[str, Any], t: Mapping[str, Any]) -> str:
    return " (the run was aborted on it)" if summary.get("aborted_by") == t.get("expr") else ""


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_summary(summary: Mapping[str, Any]) -> str:
    """A Markdown summary: key figures, thresholds (✅/❌) and alerts."""
    lat = summary.get("latency_ms") or {}
    rate = summary.get("success_rate")
    lines = [f"### loadnb run `{summary.get('run_id', '')}`: {summary.get('state', '')}", "",
             f"Target: `{_cell(summary.get('url', ''))}`", "",
             "| requests | success | avg rps | p50 | p95 | p99 | max |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
             f"| {summary.get('total_requests', 0):,} | "
             f"{'—' if rate is None else f'{rate:.2f} %'} | {summary.get('avg_rps', 0):,.1f} | "
             + " | ".join(f"{_observed(lat.get(k))} ms" for k in ("p50", "p95", "p99", "max"))
             + " |"]
    thresholds = list(summary.get("thresholds") or [])
    if thresholds:
        lines += ["", "| threshold | observed | result |", "| --- | ---: | :---: |"]
        lines += [f"| `{_cell(t.get('expr'))}` | {_observed(t.get('observed'))} | "
                  f"{'✅ pass' if t.get('passed') else '❌ fail'} |" for t in thresholds]
    if summary.get("aborted_by"):
        lines += ["", f"Aborted on `{_cell(summary['aborted_by'])}`."]
    alerts = list(summary.get("alerts") or [])
    if alerts:
        lines += ["", "Alerts:"]
        for a in alerts:
            until = ("still active at the end" if a.get("cleared_at") is None
                     else f"cleared at {a['cleared_at']:.1f} s")
            lines.append(f"- **{_cell(a.get('rule'))}** at {a.get('fired_at', 0):.1f} s "
                         f"({until}): {_cell(a.get('message'))}")
    return "\n".join(lines) + "\n"


def write_ci_outputs(summary: Mapping[str, Any], junit: Path | None,
                     markdown: Path | None) -> None:
    """Write the files asked for, and append the Markdown to ``$GITHUB_STEP_SUMMARY`` if set."""
    if junit is not None:
        junit.write_text(junit_xml(summary), encoding="utf-8")
    text = markdown_summary(summary)
    if markdown is not None:
        markdown.write_text(text, encoding="utf-8")
    step = os.environ.get("GITHUB_STEP_SUMMARY")
    if step:
        with open(step, "a", encoding="utf-8") as fh:
            fh.write(text)


__all__ = ["junit_xml", "markdown_summary", "write_ci_outputs"]
