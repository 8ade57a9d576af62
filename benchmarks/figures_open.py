"""Figures 3 and 6: open-model pacing at a fixed rate, and the open model against the closed."""

from __future__ import annotations

import math

from benchmarks.common import (
    Nginx,
    fmt_rate,
    measured,
    median,
    request_bytes,
    run_child,
    spread,
    stolen_seconds,
)
from benchmarks.figures_base import FIGURES, USERS, Mode, Row, section, share_note, timeout_for


# -- 3. pacing ----------------------------------------------------------------------------------
def pacing_run(nginx: Nginx, label: str, rate: float, seconds: float,
               loop: str = "uvloop") -> dict[str, float]:
    """One open-model run; prints its details, returns the figures."""
    before = nginx.requests_handled()
    r = run_child("pacing", {"url": nginx.url, "rate": rate, "duration": seconds, "loop": loop},
                  timeout_for(seconds))
    server = nginx.requests_handled() - before - 1  # stub_status counts its own request
    lag, lat, svc = r["lag_ms"], r["latency_ms"], r["service_ms"]
    out = {"achieved": server / r["asked"], "lag99": lag["p99"],
           "cpu": r["cpu"] / r["wall"], "steady": r["steady_rps_min"] / rate}
    print(f"  {label}: {r['asked']:,} asked, {r['requests']:,} answered in {r['seconds']:.3f} s "
          f"(server counted {server:,}; failed {r['failed']}, dropped {r['dropped']}) -> "
          f"{out['achieved']:.4f} of the asked; slowest interval {out['steady']:.3f}")
    print(f"      send lag ms p50 {lag['p50']:.3f} p99 {lag['p99']:.3f} p99.9 {lag['p99.9']:.3f} "
          f"max {lag['max']:.3f}; resp-svc ms p50 {lat['p50'] - svc['p50']:.3f} p99 "
          f"{lat['p99'] - svc['p99']:.3f}; loop-lag probe p99 {r['loop_lag_probe_p99_ms']:.2f} "
          f"max {r['loop_lag_probe_max_ms']:.2f} ms")
    print(f"      generator CPU {r['cpu']:.2f} s over {r['wall']:.2f} s = {out['cpu']:.2f} of a "
          f"core, {r['cpu'] / max(1, r['requests']) * 1e6:.0f} us per request ({r['loop']})",
          flush=True)
    return out


def pacing(mode: Mode, rate: float = 2000.0) -> list[Row]:
    section(f"3. Open model at {rate:g} req/s, fast path, uvloop "
            f"({mode.pacing_reps} x {mode.pacing_seconds:g} s)")
    print("  send lag = when each request was written minus when it was due (the engine's own "
          "measure, send_lag_p99_ms);\n  'resp-svc' = summary latency_ms minus service_ms at the "
          "same percentile (an indirect view of the same lag);\n  loop-lag probe = the "
          "monitor's loop_lag_ms per snapshot; server count = nginx's stub_status")
    runs: list[dict[str, float]] = []
    with Nginx() as nginx:
        for rep in range(mode.pacing_reps):
            runs.append(pacing_run(nginx, f"run {rep + 1}", rate, mode.pacing_seconds))
        if mode.name == "full":
            pacing_run(nginx, "reference, standard asyncio loop (1 run)", rate,
                       mode.pacing_seconds, loop="asyncio")
    ach, steady = median(r["achieved"] for r in runs), median(r["steady"] for r in runs)
    lag99, cpu = [r["lag99"] for r in runs], [r["cpu"] for r in runs]
    return [
        Row(FIGURES[7], f"{ach:.4f} (slowest interval {steady:.3f})", "1.0000",
            ach == 1.0),
        Row(FIGURES[8], f"{median(lag99):.3f} ms{spread(lag99)}", "< 1 ms", median(lag99) < 1.0),
        Row(FIGURES[9], f"{median(cpu):.2f} of a core{spread(cpu)}", "< 0.5 core, no busy spin",
            median(cpu) < 0.5),
    ]


# -- 6. the open model against the closed model -------------------------------------------------
#: An open-model rate is sustained when nothing was dropped or failed, the server counted every
#: arrival asked for, and the send lag's p99 over the run stayed below this (ms).
LAG_LIMIT_MS = 2.0


def open_run(nginx: Nginx, label: str, rate: float, seconds: float,
             raw: bool = False) -> tuple[bool, float]:
    """One open-model run (``raw``: the feature-less open-loop reference, benchmarks/raw_open.py):
    whether it sustained ``rate``, and the server's count / asked."""
    before, nginx_waited, stolen = (nginx.requests_handled(), nginx.waited_seconds(),
                                    stolen_seconds())
    params = {"url": nginx.url, "rate": rate, "duration": seconds, "connections": USERS}
    if raw:
        params["payload"] = request_bytes(nginx.url)
    r = run_child("raw_open" if raw else "pacing", params, timeout_for(seconds))
    server = nginx.requests_handled() - before - 1  # stub_status counts its own request
    nginx_waited, stolen = nginx.waited_seconds() - nginx_waited, stolen_seconds() - stolen
    lag = r["lag_ms"]["p99"]
    ok = (r["dropped"] == 0 and r["failed"] == 0 and server == r["asked"]
          and lag < LAG_LIMIT_MS)
    worst = "" if raw else f"worst interval {r['interval_lag_p99_ms']:.3f}, "
    print(f"  {label} {fmt_rate(rate):>10}: asked {r['asked']:,}, server {server:,}, dropped "
          f"{r['dropped']:,}, failed {r['failed']}; send lag p99 {lag:.3f} ms ({worst}max "
          f"{r['lag_ms']['max']:.1f}); cpu {r['cpu'] / r['wall']:.2f} core; waited for a core: "
          f"generator {r['waited'] * 1e3:.1f} ms, nginx {nginx_waited * 1e3:.1f} ms; stolen "
          f"{stolen * 1e3:.0f} ms -> "
          f"{'sustained' if ok else 'NOT sustained'}", flush=True)
    return ok, server / r["asked"] if r["asked"] else math.nan


def closed_rates(nginx: Nginx, rep: int, seconds: float) -> tuple[float, float]:
    """The closed model's throughput (loadnb, 64 users) and the raw client's (64 connections)."""
    closed = measured(run_child("loadnb", {
        "url": nginx.url, "users": USERS, "duration": seconds, "transport": "fast"},
        timeout_for(seconds)))
    raw = measured(run_child("raw_uvloop", {
        "url": nginx.url, "users": USERS, "duration": seconds,
        "payload": request_bytes(nginx.url)}, timeout_for(seconds)))
    print(f"  run {rep + 1} closed     {fmt_rate(closed.rate):>10} {share_note(closed)}\n"
          f"  run {rep + 1} raw closed {fmt_rate(raw.rate):>10} {share_note(raw)}", flush=True)
    return closed.rate, raw.rate


def sweep(nginx: Nginx, mode: Mode, rep: int) -> tuple[float, float, float]:
    """One repetition: the highest fraction loadnb's open model sustained (every lower one
    too), the raw open-loop client's, and nginx's count / asked for loadnb at 0.8x."""
    closed, raw_closed = closed_rates(nginx, rep, mode.open_seconds)
    top = raw_top = 0.0
    going = raw_going = True
    at_08 = math.nan
    for f in mode.open_fractions:
        ok, delivered = open_run(nginx, f"run {rep + 1} open {f:.1f}x", f * closed,
                                 mode.open_seconds)
        raw_ok, _ = open_run(nginx, f"run {rep + 1} raw  {f:.1f}x", f * raw_closed,
                             mode.open_seconds, raw=True)
        going, raw_going = going and ok, raw_going and raw_ok
        top, raw_top = (f if going else top), (f if raw_going else raw_top)
        if f == 0.8:
            at_08 = delivered
    return top, raw_top, at_08


def open_capacity(mode: Mode) -> list[Row]:
    fractions = ", ".join(f"{f:g}" for f in mode.open_fractions)
    section(f"6. Open model vs closed model, fast path, one generator core, {USERS} connections "
            f"each: a closed run ({USERS} users), then the open model at {fractions} x its "
            f"throughput ({mode.open_reps} x, {mode.open_seconds:g} s each)")
    print(f"  sustained = nothing dropped or failed, nginx counted every arrival asked for, "
          f"send lag p99 < {LAG_LIMIT_MS:g} ms; the open model on as many connections as the "
          f"closed one\n  (connections={USERS}): left to grow, a pool opens a connection for each "
          f"arrival that finds none idle, and a\n  single nginx worker serves a thousand "
          f"connections slower than {USERS})")
    print("  raw = the feature-less open-loop client (benchmarks/raw_open.py) at the same "
          "fractions of the raw closed\n  client's throughput: what this machine allows an open "
          "model, nothing of loadnb's on the path")
    reached, raw_reached, at_08 = [], [], []
    with Nginx() as nginx:
        for rep in range(mode.open_reps):
            top, raw_top, delivered = sweep(nginx, mode, rep)
            reached.append(top)
            raw_reached.append(raw_top)
            if not math.isnan(delivered):
                at_08.append(delivered)
    target = 0.8 if 0.8 in mode.open_fractions else min(mode.open_fractions)
    top_median = median(reached)
    witness = median(at_08) if at_08 else math.nan
    return [
        Row(FIGURES[12], f"{top_median:.1f}x{spread(reached)} (highest sustained fraction)",
            ">= 0.8x", top_median >= target),
        Row(FIGURES[13], f"{witness:.4f}" if at_08 else "not run", "1.0000",
            witness == 1.0 if at_08 else None),
        Row(FIGURES[14], f"{median(raw_reached):.1f}x{spread(raw_reached)} (same rule)",
            "the machine's ceiling for 6a", None),
    ]
