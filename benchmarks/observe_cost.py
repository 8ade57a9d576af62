"""Throughput with every observe option on vs off (issue 23's "neither slows the load", figure 2
with them): alternating pairs of in-process closed-model runs against the private nginx.

    .venv/bin/python benchmarks/observe_cost.py [--pairs 4] [--seconds 3] [--users 32]
                                                [--lines 2000]

"on" runs with ``scrape=`` (a 2,000-line exposition, ``--lines``, and the run's own exporter),
``metrics_port=``, ``otlp=`` and ``watch_pid=`` (this process), 0.5 s intervals; "off" with
none of them, 0.5 s intervals too. The OTLP receiver and the 2,000-line ``/metrics`` are a
child process. Prints each run and the median ratio on/off with its spread: the machine is
shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Nginx, free_port, median, spread
from benchmarks.pinning import CORES, can_pin
from loadnb.runner.run import Run
from loadnb.spec.config import make_spec

CHILD = """
import sys
from aiohttp import web
text = "".join(f'node_x_total{{cpu="{i}",mode="idle"}} {i * 1.5}\\n'
               for i in range(int(sys.argv[2])))
async def metrics(request): return web.Response(text=text)
async def otlp(request):
    await request.read()
    return web.Response(body=b"", content_type="application/x-protobuf")
app = web.Application()
app.router.add_get("/metrics", metrics)
app.router.add_post("/v1/metrics", otlp)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


async def one_run(url: str, users: int, seconds: float, child: str | None) -> float:
    """Requests per second of one run (with every observe option on when ``child`` is given:
    the scrape of the child's exposition and of the run's own exporter, the exporter, the OTLP
    push and a watched process, as ``loadnb run --scrape … --metrics-port … --otlp …``)."""
    observe: dict[str, object] = {}
    if child is not None:
        port = free_port()
        observe = {"scrape": [child + "metrics", f"http://127.0.0.1:{port}/metrics"],
                   "metrics_port": port, "metrics_linger": 0, "otlp": child,
                   "watch_pid": os.getpid()}
    run = Run(make_spec(url, users=users, duration=seconds, transport="fast", interval=0.5,
                        history="off", **observe))  # type: ignore[arg-type]
    result = await run.run()
    if child is not None:
        assert any(k.startswith("server.node_x_total") for k in run.record.server_sums), \
            result.warnings
    return float(result.summary["total_requests"]) / float(result.summary["duration_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--lines", type=int, default=2000, help="lines of the scraped text")
    args = parser.parse_args()
    if can_pin():
        os.sched_setaffinity(0, {CORES.generator})
    port = free_port()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(port), str(args.lines)])
    child_url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(child_url + "metrics", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        rates: dict[str, list[float]] = {"on": [], "off": []}
        with Nginx() as nginx:
            for rep in range(args.pairs):
                for name in (("on", "off") if rep % 2 == 0 else ("off", "on")):
                    rate = asyncio.run(one_run(nginx.url, args.users, args.seconds,
                                               child_url if name == "on" else None))
                    rates[name].append(rate)
                    print(f"  pair {rep + 1} observe {name:<3} {rate:>10,.0f} req/s", flush=True)
        ratios = [on / off for on, off in zip(rates["on"], rates["off"], strict=True)]
        print(f"on/off: median {median(ratios):.3f}{spread(ratios)}")
    finally:
        child.terminate()
        child.wait(10)


if __name__ == "__main__":
    main()
