"""The start-up (issue 25) where a run's summary is shown: the console table's ``Start-up`` row
(its time and its CPU) and the HTML report's summary rows."""

from __future__ import annotations

import re

from loadnb.console import format_summary
from loadnb.record.record import RunRecord
from loadnb.record.summary import summary_of
from loadnb.results.report import render
from loadnb.results.result import Result
from loadnb.spec.config import make_spec


def test_the_console_table_shows_the_start_up_time_and_cpu() -> None:
    text = format_summary(summary_of({"run_id": "r1", "startup_s": 0.012,
                                      "startup_cpu_s": 0.284}))
    assert re.search(r"^  Start-up +0\.012 s \| 0\.284 s CPU$", text, re.MULTILINE), text
    partial = format_summary(summary_of({"run_id": "r2", "startup_s": 0.5}))  # stored before
    assert re.search(r"^  Start-up +0\.500 s \| —$", partial, re.MULTILINE), partial
    assert "Start-up" not in format_summary(summary_of({"run_id": "r3"}))


def test_the_report_shows_the_start_up_cpu() -> None:
    record = RunRecord("r4", make_spec("http://127.0.0.1:9/", history="off"), 1.7e9, "fast",
                       cpu_at_start=1.0, cpu_at_load=1.25)
    html = render([Result(record)])
    assert "<td>start-up CPU (s)</td><td>0.25</td>" in html
