"""Full speed from a notebook (issue 24): the same load run three ways against one nginx.

Starts a private nginx on 127.0.0.1 (``benchmarks/common.py``, pinned to core 1) and a real
Jupyter kernel (ipykernel, driven with ``jupyter_client``), and runs, interleaved, ``--reps``
times each, the same closed-model load (``--users`` users for ``--seconds`` seconds, history off):

- (a) ``in-kernel``: ``await loadnb.arun(url, ...)`` in the kernel's own event loop;
- (b) ``workers=1``: ``await loadnb.arun(url, ..., cluster=c)`` from the kernel on a warm
  ``loadnb.cluster(workers=1)`` started once in the kernel (one worker process, uvloop, fast path;
  the kernel only merges);
- (c) ``CLI``: ``loadnb run URL -u USERS -d SECONDs --json`` (the fast path on uvloop).

The generators (the kernel, its Dask worker, the CLI) run on core 0 when two cores can be pinned
(the kernel pins itself before it starts the cluster, whose worker inherits it). Prints each run's
requests/s (the run's ``avg_rps``) and its generator's CPU at most (a generator far below 100 %
was starved by the machine's other load: its figure measures the machine), the medians, the
ratios b/c and a/c (the median of each repetition's ratio; goal: b/c >= 0.9) and one JSON line.
Loopback only; every run is bounded by ``--seconds``.

    python benchmarks/kernel.py                      # 3 x 5 s of each, about 2 minutes
    python benchmarks/kernel.py --reps 5 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: benchmarks.common and loadnb from this tree
    sys.path.insert(0, str(ROOT))

from benchmarks.common import Nginx, median, spread  # noqa: E402
from benchmarks.pinning import CORES, can_pin, pinned, pinning_note  # noqa: E402

MARK = "@@kernel-bench "
SETUP = """
import asyncio, json, os, loadnb
if {pin}:
    os.sched_setaffinity(0, {{{core}}})
c = loadnb.cluster(workers=1).__enter__()
loop = type(asyncio.get_running_loop())
import distributed
async with distributed.Client(c.scheduler_address, asynchronous=True) as client:
    cores = await client.run(os.sched_getaffinity, 0)
print({mark!r} + json.dumps({{"cluster": repr(c), "loop": f"{{loop.__module__}}.{{loop.__name__}}",
                              "worker_cores": sorted(map(sorted, cores.values()))}}))
"""
RUN = """
r = await loadnb.arun({url!r}, users={users}, duration={seconds}, history="off"{extra})
print({mark!r} + json.dumps({{k: r.summary[k] for k in
      ("avg_rps", "total_requests", "state", "workers", "startup_s", "generator")}}))
"""


class Kernel:
    """A real ipykernel in this venv, with this tree first on its path (a context manager)."""

    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.kc: Any = None

    def __enter__(self) -> Kernel:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
        self.km.start_kernel(env=env, cwd=str(ROOT))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)

    def execute(self, code: str, timeout: float) -> dict[str, Any]:
        """Run ``code`` in the kernel; the JSON it printed after :data:`MARK`."""
        lines: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                lines.extend(content["text"].splitlines())
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))

        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook)
        if reply["content"]["status"] != "ok" or errors:
            raise RuntimeError(f"kernel: {''.join(errors) or reply['content']}")
        found = [json.loads(line[len(MARK):]) for line in lines if line.startswith(MARK)]
        if not found:
            raise RuntimeError(f"kernel printed no result: {lines[-5:]}")
        out: dict[str, Any] = found[-1]
        return out


def cli_run(url: str, users: int, seconds: float) -> dict[str, Any]:
    """(c): the CLI's fast path in a process of its own (its ``--json`` summary)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = pinned(CORES.generator, [sys.executable, "-m", "loadnb", "run", url, "-u", str(users),
                                   "-d", f"{seconds:g}s", "--json", "-q", "--no-history"])
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60,
                          check=False)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0 or not last.startswith("{"):
        raise RuntimeError(f"CLI run failed ({proc.returncode}): {proc.stderr[-500:]}")
    summary: dict[str, Any] = json.loads(last)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each (3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run (5)")
    parser.add_argument("--users", type=int, default=64, help="virtual users (64)")
    args = parser.parse_args(argv)
    if args.reps < 1 or not 0 < args.seconds <= 60 or args.users < 1:
        parser.error("--reps >= 1, 0 < --seconds <= 60, --users >= 1")
    print(f"kernel benchmark: {args.reps} x {args.seconds:g} s of each, {args.users} users; "
          f"{pinning_note()}", flush=True)
    rates: dict[str, list[float]] = {"in-kernel": [], "workers=1": [], "CLI": []}
    budget = args.seconds + 120
    with Nginx() as nginx, Kernel() as kernel:
        setup = kernel.execute(SETUP.format(pin=can_pin(), core=CORES.generator, mark=MARK), 120)
        print(f"  kernel ready (its loop: {setup['loop']}), {setup['cluster']}, its worker on "
              f"cores {setup['worker_cores']}", flush=True)
        code = {name: RUN.format(url=nginx.url, users=args.users, seconds=args.seconds, mark=MARK,
                                 extra=extra)
                for name, extra in (("in-kernel", ""), ("workers=1", ", cluster=c"))}
        names = list(rates)
        for rep in range(args.reps):
            for name in names[rep % 3:] + names[:rep % 3]:  # interleaved, order rotated
                out = (cli_run(nginx.url, args.users, args.seconds) if name == "CLI"
                       else kernel.execute(code[name], budget))
                if out["state"] != "done":
                    raise RuntimeError(f"{name} run ended {out['state']}")
                rates[name].append(float(out["avg_rps"]))
                print(f"  run {rep + 1} {name:<10} {out['avg_rps']:>10,.0f} req/s "
                      f"({out['total_requests']:,} requests, startup {out['startup_s']} s, "
                      f"generator CPU at most {out['generator']['max_cpu_percent']:.0f} %)",
                      flush=True)
        kernel.execute(f"c.close()\nprint({MARK!r} + '{{}}')", 60)
    med = {name: median(values) for name, values in rates.items()}
    for name, values in rates.items():
        print(f"  median {name:<10} {med[name]:>10,.0f} req/s (runs "
              f"{min(values):,.0f}-{max(values):,.0f})")
    # Ratios of runs of the same repetition (back to back), then their median: the machine's
    # drift between repetitions cancels out.
    pairs = {key: [x / c for x, c in zip(rates[key], rates["CLI"], strict=True)]
             for key in ("workers=1", "in-kernel")}
    b_c, a_c = median(pairs["workers=1"]), median(pairs["in-kernel"])
    print(f"  workers=1 / CLI = {b_c:.2f}{spread(pairs['workers=1'])} (goal >= 0.9); "
          f"in-kernel / CLI = {a_c:.2f}{spread(pairs['in-kernel'])} (median of the same "
          f"repetition's ratios)")
    print(json.dumps({"users": args.users, "seconds": args.seconds, "reps": args.reps,
                      "rps": rates, "median_rps": med, "workers1_over_cli": round(b_c, 3),
                      "inkernel_over_cli": round(a_c, 3), "pinning": pinning_note(),
                      "kernel_loop": setup["loop"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
