"""Outputs of a run's summary: strict JSON values, JUnit XML (one test case per threshold) and a
Markdown summary.

Pure functions of the run's :class:`~loadnb.record.summary.Summary` (the object ``loadnb run
--json`` prints), so a stored run can be rendered the same way. ``--junit FILE`` and
``--summary-md FILE`` write them; when the ``GITHUB_STEP_SUMMARY`` environment variable names a
file, the Markdown is appended there too.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..record.summary import Summary, ThresholdEntry
from ..text.numbers import is_number, trimmed


def _observed(value: Any) -> str:
    return trimmed(value) if is_number(value) else "no data"


def junit_xml(summary: Summary) -> str:
    """JUnit XML: a ``loadnb`` suite with one test case per threshold (a failure carries the
    observed value); a run without thresholds is one test case that passes when the run ended
    as ``done`` or ``stopped``."""
    thresholds = summary["thresholds"]
    duration = float(summary["duration_s"] or 0.0)
    suite = ET.Element("testsuite", name=f"loadnb {summary['url']}".strip(),
                       tests=str(max(1, len(thresholds))), time=f"{duration:.3f}",
                       timestamp=summary["started_at"])
    failures = 0
    for t in thresholds:
        case = ET.SubElement(suite, "testcase", classname="loadnb.rules.thresholds",
                             name=str(t["expr"]), time=f"{duration:.3f}")
        if not t["passed"]:
            failures += 1
            message = f"{t['expr']} failed: observed {_observed(t['observed'])}"
            failure = ET.SubElement(case, "failure", message=message, type="threshold")
            failure.text = message + _aborted(summary, t)
    if not thresholds:
        case = ET.SubElement(suite, "testcase", classname="loadnb.run", name="run",
                             time=f"{duration:.3f}")
        if summary["state"] not in ("done", "stopped"):
            failures += 1
            ET.SubElement(case, "failure", message=f"the run {summary['state']}: "
                          f"{summary['error']}", type="run")
    suite.set("failures", str(failures))
    root = ET.Element("testsuites", tests=suite.get("tests", "0"), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _aborted(summary: Summary, t: ThresholdEntry) -> str:
    return " (the run was aborted on it)" if summary["aborted_by"] == t["expr"] else ""


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_summary(summary: Summary) -> str:
    """A Markdown summary: key figures, thresholds (✅/❌) and alerts."""
    lat = summary["latency_ms"]
    rate = summary["success_rate"]
    lines = [f"### loadnb run `{summary['run_id']}`: {summary['state']}", "",
             f"Target: `{_cell(summary['url'])}`", "",
             "| requests | success | avg rps | p50 | p95 | p99 | max |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
             f"| {summary['total_requests']:,} | "
             f"{'—' if rate is None else f'{rate:.2f} %'} | {summary['avg_rps']:,.1f} | "
             + " | ".join(f"{_observed(lat[k])} ms" for k in ("p50", "p95", "p99", "max"))
             + " |"]
    thresholds = summary["thresholds"]
    if thresholds:
        lines += ["", "| threshold | observed | result |", "| --- | ---: | :---: |"]
        lines += [f"| `{_cell(t['expr'])}` | {_observed(t['observed'])} | "
                  f"{'✅ pass' if t['passed'] else '❌ fail'} |" for t in thresholds]
    if summary["aborted_by"]:
        lines += ["", f"Aborted on `{_cell(summary['aborted_by'])}`."]
    alerts = summary["alerts"]
    if alerts:
        lines += ["", "Alerts:"]
        for a in alerts:
            cleared = a["cleared_at"]
            until = ("still active at the end" if cleared is None
                     else f"cleared at {cleared:.1f} s")
            lines.append(f"- **{_cell(a['rule'])}** at {a['fired_at']:.1f} s "
                         f"({until}): {_cell(a['message'])}")
    return "\n".join(lines) + "\n"


def write_ci_outputs(summary: Summary, junit: Path | None,
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
