"""``loadnb run`` imports only what sending the load needs (issue 25: start-up counted apart):
a target-URL run on the fast transport imports no aiohttp, pandas, pyarrow, Bokeh, ipywidgets
or Dask, from its start to its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
HEAVY = ("aiohttp", "pandas", "pyarrow", "bokeh", "ipywidgets", "dask", "distributed")
PROGRAM = """
import json, sys
from loadnb.cli import main
try:
    code = main(["run", sys.argv[1], "-n", "20", "-u", "2", "--history", "off", "--json"])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"code": code, "heavy": sorted({{m.split(".")[0] for m in heavy}})}}),
      file=sys.stderr)
"""


def test_a_fast_target_url_run_imports_nothing_it_does_not_need(demo_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOADNB_HISTORY": "off"}
    out = subprocess.run([sys.executable, "-c", PROGRAM.format(heavy=set(HEAVY)), demo_url],
                         env=env, capture_output=True, text=True, timeout=120)
    last = json.loads(out.stderr.strip().splitlines()[-1])
    summary = json.loads(out.stdout)
    assert last["code"] == 0 and summary["completed_requests"] == 20
    assert summary["transport"] == "fast" and summary["versions"]["aiohttp"]
    assert last["heavy"] == [], last["heavy"]
