"""Figures for measurement truth: a 1 s stall in both models, and loadnb against the server's clock.

Run from the repo root (loopback only, about 15 s)::

    .venv/bin/python -m benchmarks.truth_figures
"""

from __future__ import annotations

import asyncio

import numpy as np

from loadnb import Run, make_spec
from tests.loopback.test_truth import stall_plan
from tests.servers import Action, DelayServerProcess, RawHTTPServer


def show(label: str, summary: dict[str, dict[str, float]]) -> None:
    for key in ("latency_ms", "service_ms"):
        ms = summary[key]
        print(f"{label:<28} {key:<11} " + "  ".join(
            f"{q}={ms[q]:.1f}" for q in ("p50", "p90", "p99", "p99.9", "max")))


async def main() -> None:
    plan, _ = stall_plan(1.0)
    with RawHTTPServer(plan) as server:
        result = await Run(make_spec(server.url, rate=200, duration=3)).run()
    show("open 200/s, 1 s stall", result.summary)
    for expected in (None, 0.005):
        plan, _ = stall_plan(1.0)

        def held(i: int, plan: object = plan) -> Action:
            action = plan(i)  # type: ignore[operator]
            return action if action.delay else Action(delay=0.004)

        with RawHTTPServer(held) as server:
            spec = make_spec(server.url, users=4, duration=3, expected_interval=expected)
            result = await Run(spec).run()
        show(f"closed 4 users, CO {expected}", result.summary)
    with DelayServerProcess(seed=7, low=0.010, high=0.030) as server:
        result = await Run(make_spec(server.url, rate=100, duration=3)).run()
        hold = np.array(server.stop()) * 1e3
    s = result.summary
    for q in (50, 99):
        key = f"p{q}"
        print(f"server clock {key}={np.percentile(hold, q):.2f} ms   loadnb service "
              f"{key}={s['service_ms'][key]:.2f} ms   response {key}={s['latency_ms'][key]:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
