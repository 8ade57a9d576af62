"""loadnb benchmarks: throughput vs wrk and a raw client, monitoring cost, pacing, memory, stop
latency, the open model vs the closed model.

    .venv/bin/python benchmarks/run_all.py            # about 6 minutes (make bench)
    .venv/bin/python benchmarks/run_all.py --quick    # about 2 minutes
    .venv/bin/python benchmarks/run_all.py --smoke    # about 20 s: 1 repetition, no memory figure
    .venv/bin/python benchmarks/run_all.py --long     # memory over a real 10 minutes
    .venv/bin/python benchmarks/run_all.py --nice -10 # as root on a busy shared machine

Each benchmark starts its own nginx on 127.0.0.1 (one worker, pinned to core 1) and runs every
generator pinned to core 0 (``taskset -c``), one process per measurement. Every figure is a ratio
or a bound against a reference measured in the same run; repeated measurements are interleaved
(so slow drifts of a shared machine hit every variant alike) and the median is printed. Targets
are shown with pass/fail as information: the exit status is 0 unless a benchmark crashed.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script (make bench): import the package by its name
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    Measured,
    Nginx,
    fmt_rate,
    measured,
    median,
    median_error,
    missing_tools,
    pinning_note,
    request_bytes,
    run_child,
    run_wrk,
    set_nice,
    spread,
)

USERS = 64


@dataclass(frozen=True)
class Mode:
    """How long and how often each benchmark runs."""

    name: str
    reps: int
    seconds: float  # each throughput measurement (whole seconds: wrk)
    pacing_seconds: float
    pacing_reps: int
    memory_seconds: float | None  # None: skipped
    stops: int
    stop_warm: float
    # Monitoring on vs off differs by a few %, less than the machine's drift over seconds: many
    # short back-to-back pairs, alternating which goes first, and the median of their ratios.
    monitor_pairs: int
    monitor_seconds: float
    open_reps: int  # closed run + open runs at fractions of its throughput, repeated
    open_seconds: float
    open_fractions: tuple[float, ...]


FRACTIONS = (0.6, 0.7, 0.8, 0.9, 1.0)
MODES = {
    "full": Mode("full", 3, 5.0, 10.0, 3, 60.0, 10, 1.0, 10, 2.0, 3, 5.0, FRACTIONS),
    "quick": Mode("quick", 3, 1.0, 2.0, 3, 25.0, 5, 0.5, 6, 1.5, 1, 2.0, FRACTIONS),
    "smoke": Mode("smoke", 1, 1.0, 1.0, 1, None, 3, 0.3, 1, 1.0, 1, 1.0, (0.8,)),
}


@dataclass
class Row:
    """One line of the final table."""

    figure: str
    measured: str
    target: str
    ok: bool | None  # None: no verdict (skipped, crashed, information only)


#: Every row the final table has, in order (the smoke test checks they are all printed).
FIGURES = (
    "1a throughput fast/wrk (uvloop)",
    "1b per CPU-second fast/wrk",
    "1c throughput fast_stdloop/wrk",
    "1d throughput aiohttp_path/bare_aiohttp",
    "1e per CPU-second fast/raw_uvloop",
    "1f per CPU-s fast/raw, every response new",
    "2  monitoring cost (0.5 s ticks)",
    "3a open 2000/s server count/asked",
    "3b open 2000/s send lag p99",
    "3c open 2000/s generator CPU",
    "4  memory growth per 10 min",
    "5  stop -> final snapshot (median)",
    "6a open model / closed throughput",
    "6b open 0.8x closed server count/asked",
)


#: A generator that got less of its core than this was competing with other processes.
STARVED = 0.85


def share_note(m: Measured) -> str:
    share = m.cpu / m.seconds if m.seconds else 0.0
    flag = "  <- starved" if share < STARVED else ""
    return f"(cpu {m.cpu:.2f} s / {m.seconds:.2f} s = {share:.2f} core{flag})"


def starved_note(runs: dict[str, list[Measured]], say: bool = True) -> str:
    """`` [starved]`` when a generator behind a ratio got less than :data:`STARVED` of its core
    (other processes on the generator core): that throughput ratio measures the machine, and
    the per-CPU-second one is the figure to read. With ``say``, prints which runs were starved."""
    hit = [f"{name} {i + 1}" for name, ms in runs.items() for i, m in enumerate(ms)
           if m.seconds and m.cpu / m.seconds < STARVED]
    if not hit:
        return ""
    if say:
        print(f"  NOTE: less than {STARVED:.0%} of a core in runs {', '.join(hit)}: the generator "
              "core is shared with other processes; read the per-CPU-second ratios")
    return " [starved]"


def failure_note(m: Measured) -> str:
    bad = m.extra.get("failed") or m.extra.get("errors")
    return f"  FAILED/ERRORS: {bad}" if bad else ""


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def timeout_for(seconds: float) -> float:
    return seconds * 3 + 60


# -- 1. throughput ------------------------------------------------------------------------------
def throughput(mode: Mode) -> list[Row]:
    section(f"1. Throughput, keep-alive GET, {USERS} connections, one generator core "
            f"({mode.reps} x {mode.seconds:g} s each, interleaved)")
    dur = mode.seconds
    variants: dict[str, Callable[[str], Measured]] = {
        "wrk": lambda url: run_wrk(url, dur, USERS),
        "fast": lambda url: measured(run_child("loadnb", {
            "url": url, "users": USERS, "duration": dur, "transport": "fast"},
            timeout_for(dur))),
        "fast_stdloop": lambda url: measured(run_child("loadnb", {
            "url": url, "users": USERS, "duration": dur, "transport": "fast",
            "loop": "asyncio"}, timeout_for(dur))),
        "aiohttp_path": lambda url: measured(run_child("loadnb", {
            "url": url, "users": USERS, "duration": dur, "transport": "aiohttp"},
            timeout_for(dur))),
        "bare_aiohttp": lambda url: measured(run_child("bare_aiohttp", {
            "url": url, "users": USERS, "duration": dur}, timeout_for(dur))),
        "raw_uvloop": lambda url: measured(run_child("raw_uvloop", {
            "url": url, "users": USERS, "duration": dur, "payload": request_bytes(url)},
            timeout_for(dur))),
        # every response different (nginx's $request_id): no response is like the last one
        "fast_unique": lambda url: measured(run_child("loadnb", {
            "url": url + "unique", "users": USERS, "duration": dur, "transport": "fast"},
            timeout_for(dur))),
        "raw_unique": lambda url: measured(run_child("raw_uvloop", {
            "url": url + "unique", "users": USERS, "duration": dur,
            "payload": request_bytes(url + "unique")}, timeout_for(dur))),
    }
    names = list(variants)
    runs: dict[str, list[Measured]] = {n: [] for n in names}
    with Nginx() as nginx:
        for rep in range(mode.reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                m = variants[name](nginx.url)
                runs[name].append(m)
                print(f"  run {rep + 1} {name:<13} {fmt_rate(m.rate):>12}  "
                      f"{fmt_rate(m.per_cpu_second):>12} per CPU-s  "
                      f"{share_note(m)}{failure_note(m)}", flush=True)

    def ratios(num: str, den: str, per_cpu: bool = False, total: bool = False) -> list[float]:
        def value(m: Measured) -> float:
            if total:  # per CPU-second of the whole process: start-up (imports) included
                cpu = float(m.extra.get("cpu_total") or 0.0)
                return m.requests / cpu if cpu > 0 else 0.0
            return m.per_cpu_second if per_cpu else m.rate
        return [value(a) / value(b) if value(b) else math.nan
                for a, b in zip(runs[num], runs[den], strict=True)]

    print("  medians: " + ", ".join(f"{n} {fmt_rate(median(m.rate for m in runs[n]))}"
                                    for n in names))
    print("  medians per CPU-second: " + ", ".join(
        f"{n} {fmt_rate(median(m.per_cpu_second for m in runs[n]))}" for n in names))
    fast, cpu = ratios("fast", "wrk"), ratios("fast", "wrk", per_cpu=True)
    std, aio = ratios("fast_stdloop", "wrk"), ratios("aiohttp_path", "bare_aiohttp")
    extra = {"fast_stdloop/wrk per CPU-s": ratios("fast_stdloop", "wrk", per_cpu=True),
             "aiohttp_path/bare per CPU-s": ratios("aiohttp_path", "bare_aiohttp", per_cpu=True),
             "bare_aiohttp/wrk": ratios("bare_aiohttp", "wrk"),
             "fast/aiohttp_path": ratios("fast", "aiohttp_path"),
             "fast/raw_uvloop per CPU-s": ratios("fast", "raw_uvloop", per_cpu=True),
             "fast/raw_uvloop per CPU-s, start-up in": ratios("fast", "raw_uvloop", total=True),
             "wrk/raw_uvloop per CPU-s": ratios("wrk", "raw_uvloop", per_cpu=True),
             "fast/raw per CPU-s, unique": ratios("fast_unique", "raw_unique", per_cpu=True)}
    for label, values in {"fast/wrk": fast, "fast/wrk per CPU-s": cpu, "fast_stdloop/wrk": std,
                          "aiohttp_path/bare_aiohttp": aio, **extra}.items():
        print(f"  {label:<28} {median(values):.3f}{spread(values)}")
    starved_note(runs)
    flag = starved_note({n: runs[n] for n in ("wrk", "fast")}, say=False)
    flag_std = starved_note({n: runs[n] for n in ("wrk", "fast_stdloop")}, say=False)
    flag_aio = starved_note({n: runs[n] for n in ("aiohttp_path", "bare_aiohttp")}, say=False)
    std_cpu, aio_cpu = extra["fast_stdloop/wrk per CPU-s"], extra["aiohttp_path/bare per CPU-s"]
    raw = extra["fast/raw_uvloop per CPU-s"]
    raw_in = extra["fast/raw_uvloop per CPU-s, start-up in"]
    wrk_raw, unique = extra["wrk/raw_uvloop per CPU-s"], extra["fast/raw per CPU-s, unique"]
    return [
        Row(FIGURES[0], f"{median(fast):.2f}x{spread(fast)}{flag}", ">= 0.65x",
            median(fast) >= 0.65),
        Row(FIGURES[1], f"{median(cpu):.2f}x{spread(cpu)}", "(info)", None),
        Row(FIGURES[2], f"{median(std):.2f}x{spread(std)} (per CPU-s {median(std_cpu):.2f}x)"
            f"{flag_std}", ">= 0.20x", median(std) >= 0.20),
        Row(FIGURES[3], f"{median(aio):.2f}x{spread(aio)} (per CPU-s {median(aio_cpu):.2f}x)"
            f"{flag_aio}", ">= 0.90x", median(aio) >= 0.90),
        Row(FIGURES[4], f"{median(raw):.2f}x{spread(raw)} (start-up in {median(raw_in):.2f}x; "
            f"wrk/raw_uvloop {median(wrk_raw):.2f}x)", ">= 0.95x", median(raw) >= 0.95),
        Row(FIGURES[5], f"{median(unique):.2f}x{spread(unique)}", "(info)", None),
    ]


# -- 2. monitoring cost -------------------------------------------------------------------------
def monitoring(mode: Mode) -> list[Row]:
    section(f"2. Monitoring cost: fast path, interval 0.5 s + a widget-like subscriber + ten alert "
            f"rules + five thresholds + the history writer vs interval 60 s, no rules, no "
            f"history ({mode.monitor_pairs} pairs x {mode.monitor_seconds:g} s)")
    dur = mode.monitor_seconds
    runs: dict[str, list[Measured]] = {"ticks": [], "quiet": []}
    history = str(Path(tempfile.mkdtemp(prefix="loadnb-bench-")) / "history.sqlite")
    params: dict[str, dict[str, object]] = {
        "ticks": {"interval": 0.5, "subscriber": "widget", "time_ticks": True, "judge": True,
                  "history": history},
        "quiet": {"interval": 60}}
    with Nginx() as nginx:
        for rep in range(mode.monitor_pairs):
            order = ["ticks", "quiet"] if rep % 2 == 0 else ["quiet", "ticks"]
            for name in order:
                m = measured(run_child("loadnb", {
                    "url": nginx.url, "users": USERS, "duration": dur, "transport": "fast",
                    **params[name]}, timeout_for(dur)))
                runs[name].append(m)
                print(f"  run {rep + 1} {name:<6} {fmt_rate(m.rate):>12}  "
                      f"{fmt_rate(m.per_cpu_second):>12} per CPU-s  "
                      f"{m.extra['snapshots']:>3} snapshots {share_note(m)}{failure_note(m)}",
                      flush=True)
    rate = [a.rate / b.rate for a, b in zip(runs["ticks"], runs["quiet"], strict=True)]
    cpu = [a.per_cpu_second / b.per_cpu_second
           for a, b in zip(runs["ticks"], runs["quiet"], strict=True)]
    cost, cost_cpu = 1 - median(rate), 1 - median(cpu)
    noise = median_error(rate)
    print(f"  throughput ticks/quiet {median(rate):.3f}{spread(rate)} -> cost {cost:+.1%} "
          f"(standard error of the median {noise:.1%})")
    print(f"  per CPU-s  ticks/quiet {median(cpu):.3f}{spread(cpu)} -> cost {cost_cpu:+.1%}")
    # The direct view, free of run-to-run noise: time spent inside Monitor.tick (swap, snapshot,
    # subscriber) during the load, as a share of the load's wall time.
    shares, per_tick = [], []
    for m in runs["ticks"]:
        ticks = m.extra.get("tick_seconds") or []
        if ticks:
            shares.append(sum(ticks) / m.seconds)
            per_tick.append(1e3 * sum(ticks) / len(ticks))
    direct = ""
    if shares:
        direct = f"; in ticks {median(shares):.2%} of the time"
        print(f"  time inside Monitor.tick during the load: {median(shares):.2%} of the wall time "
              f"({median(per_tick):.2f} ms per tick at {median(m.rate for m in runs['ticks']):,.0f}"
              f" req/s){spread(shares)}")
    flag = starved_note(runs)
    # The machine's drift between runs is larger than the cost being measured: a cost within two
    # standard errors of the target is not evidence against it.
    within = not cost <= 0.05 and cost - 2 * noise <= 0.05
    return [Row(FIGURES[6], f"{cost:+.1%} ±{noise:.1%} (ratio {median(rate):.3f}; per CPU-s "
                f"{cost_cpu:+.1%}{direct}){flag}{' [within noise]' if within else ''}",
                "<= 5 %", cost <= 0.05 or within)]


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


# -- 4. memory ----------------------------------------------------------------------------------
def memory(mode: Mode) -> list[Row]:
    seconds = mode.memory_seconds
    if seconds is None:
        section("4. Memory: skipped (--smoke)")
        return [Row(FIGURES[10], "skipped (--smoke)", "< 50 MB", None)]
    section(f"4. Memory: RSS of a full-speed run ({USERS} users, fast path, widget-like "
            f"subscriber) over {seconds:g} s")
    with Nginx() as nginx:
        r = run_child("memory", {"url": nginx.url, "users": USERS, "duration": seconds},
                      timeout_for(seconds))
    mb = 1024 * 1024
    samples = [(t, rss / mb) for t, rss in r["samples"]]
    warm = max(2.0, min(10.0, seconds * 0.4))  # RSS plateaus within about 10 s at full speed
    later = [(t, v) for t, v in samples if t >= warm]
    if len(later) < 3:
        raise RuntimeError(f"too few RSS samples after the warm-up: {samples}")
    n = len(later)
    mean_t = sum(t for t, _ in later) / n
    mean_v = sum(v for _, v in later) / n
    slope = (sum((t - mean_t) * (v - mean_v) for t, v in later)
             / sum((t - mean_t) ** 2 for t, _ in later))  # MB per second
    grew = later[-1][1] - later[0][1]
    per10 = slope * 600
    print(f"  {r['requests']:,} requests in {r['seconds']:.1f} s "
          f"({r['requests'] / r['seconds']:,.0f}/s), {r['snapshots']} snapshots kept")
    print(f"  RSS before the run {r['rss_before'] / mb:.1f} MB, at {later[0][0]:.1f} s "
          f"{later[0][1]:.1f} MB, at the end {samples[-1][1]:.1f} MB, peak "
          f"{r['max_rss_kb'] / 1024:.1f} MB")
    print(f"  growth after the {warm:g} s warm-up: {grew:+.2f} MB in {later[-1][0] - warm:.0f} s; "
          f"fitted slope {slope * 60:+.3f} MB/min -> {per10:+.1f} MB per 10 min")
    if seconds < 60:
        print("  (a short window: allocator warm-up weighs on the slope; the default 60 s run or "
              "--long is the figure to trust)")
    label = "measured" if seconds >= 600 else f"extrapolated from {seconds:g} s"
    return [Row(FIGURES[10], f"{per10:+.1f} MB ({label}; {grew:+.1f} MB seen)", "< 50 MB",
                per10 < 50)]


# -- 5. stop latency ----------------------------------------------------------------------------
def stop_latency(mode: Mode) -> list[Row]:
    section(f"5. Stop latency: run.stop() during a full-speed run ({USERS} users, fast path, "
            f"uvloop) after {mode.stop_warm:g} s, {mode.stops} times")
    with Nginx() as nginx:
        r = run_child("stop", {"url": nginx.url, "users": USERS, "repeats": mode.stops,
                               "warm": mode.stop_warm}, timeout_for(mode.stops * 3))
    final, wait = r["to_final_ms"], r["to_wait_ms"]
    print("  stop -> final snapshot ms: " + " ".join(f"{v:.1f}" for v in final))
    print("  stop -> wait() returned ms: " + " ".join(f"{v:.1f}" for v in wait))
    print(f"  active users before each stop: {r['active_before_stop']}; "
          f"{r['answered']:,} requests answered in all")
    med = median(final)
    return [Row(FIGURES[11], f"{med:.1f} ms (wait() {median(wait):.1f} ms; max "
                f"{max(final):.1f} ms)", "< 100 ms", med < 100)]


# -- 6. the open model against the closed model -------------------------------------------------
#: An open-model rate is sustained when nothing was dropped or failed, the server counted every
#: arrival asked for, and the send lag's p99 over the run stayed below this (ms).
LAG_LIMIT_MS = 2.0


def open_run(nginx: Nginx, label: str, rate: float, seconds: float) -> tuple[bool, float]:
    """One open-model run: whether it sustained ``rate``, and the server's count / asked."""
    before = nginx.requests_handled()
    r = run_child("pacing", {"url": nginx.url, "rate": rate, "duration": seconds,
                             "connections": USERS}, timeout_for(seconds))
    server = nginx.requests_handled() - before - 1  # stub_status counts its own request
    lag = r["lag_ms"]["p99"]
    ok = (r["dropped"] == 0 and r["failed"] == 0 and server == r["asked"]
          and lag < LAG_LIMIT_MS)
    print(f"  {label} {fmt_rate(rate):>10}: asked {r['asked']:,}, server {server:,}, dropped "
          f"{r['dropped']:,}, failed {r['failed']}; send lag p99 {lag:.3f} ms (worst interval "
          f"{r['interval_lag_p99_ms']:.3f}, max {r['lag_ms']['max']:.1f}); cpu "
          f"{r['cpu'] / r['wall']:.2f} core -> {'sustained' if ok else 'NOT sustained'}",
          flush=True)
    return ok, server / r["asked"] if r["asked"] else math.nan


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
    reached, at_08 = [], []
    with Nginx() as nginx:
        for rep in range(mode.open_reps):
            closed = measured(run_child("loadnb", {
                "url": nginx.url, "users": USERS, "duration": mode.open_seconds,
                "transport": "fast"}, timeout_for(mode.open_seconds)))
            print(f"  run {rep + 1} closed     {fmt_rate(closed.rate):>10} {share_note(closed)}",
                  flush=True)
            top, going = 0.0, True
            for f in mode.open_fractions:
                ok, delivered = open_run(nginx, f"run {rep + 1} open {f:.1f}x", f * closed.rate,
                                         mode.open_seconds)
                going = going and ok
                top = f if going else top
                if f == 0.8:
                    at_08.append(delivered)
            reached.append(top)
    target = 0.8 if 0.8 in mode.open_fractions else min(mode.open_fractions)
    top_median = median(reached)
    witness = median(at_08) if at_08 else math.nan
    return [
        Row(FIGURES[12], f"{top_median:.1f}x{spread(reached)} (highest sustained fraction)",
            ">= 0.8x", top_median >= target),
        Row(FIGURES[13], f"{witness:.4f}" if at_08 else "not run", "1.0000",
            witness == 1.0 if at_08 else None),
    ]


BENCHMARKS: tuple[tuple[tuple[str, ...], Callable[[Mode], list[Row]]], ...] = (
    (FIGURES[0:6], throughput),
    (FIGURES[6:7], monitoring),
    (FIGURES[7:10], pacing),
    (FIGURES[10:11], memory),
    (FIGURES[11:12], stop_latency),
    (FIGURES[12:14], open_capacity),
)


def print_table(rows: list[Row]) -> None:
    def verdict(ok: bool | None) -> str:
        return "-" if ok is None else ("pass" if ok else "FAIL")

    w1 = max(len(r.figure) for r in rows)
    w2 = max(len(r.measured) for r in rows)
    w3 = max(len(r.target) for r in rows)
    print(f"\n{'figure':<{w1}}  {'measured':<{w2}}  {'target':<{w3}}  pass/fail")
    print(f"{'-' * w1}  {'-' * w2}  {'-' * w3}  ---------")
    for r in rows:
        print(f"{r.figure:<{w1}}  {r.measured:<{w2}}  {r.target:<{w3}}  {verdict(r.ok)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="about 1 minute")
    group.add_argument("--smoke", action="store_true",
                       help="about 20 s: 1 repetition of 1 s, no memory figure (for the tests)")
    parser.add_argument("--long", action="store_true",
                        help="run the memory figure for a real 10 minutes")
    parser.add_argument("--only", default="", help="comma-separated figure numbers, e.g. 1,3")
    parser.add_argument("--nice", type=int, default=0,
                        help="run nginx and the generators under nice -n N (e.g. -10, as root, "
                             "on a busy shared machine)")
    args = parser.parse_args(argv)
    if args.nice < 0 and os.geteuid() != 0:
        parser.error("--nice below 0 needs root")
    set_nice(args.nice)
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.long:
        mode = Mode(**{**mode.__dict__, "memory_seconds": 600.0})
    missing = missing_tools()
    if missing:
        print(f"benchmarks need {', '.join(missing)} (make sysdeps)", file=sys.stderr)
        return 2
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so every nginx is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    print(f"loadnb benchmarks, mode {mode.name}; {pinning_note()}; Python "
          f"{sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")
    t0 = time.monotonic()
    rows: list[Row] = []
    crashed = False
    for figures, bench in BENCHMARKS:
        if only and figures[0].split()[0][0] not in only:
            continue
        try:
            rows += bench(mode)
        except Exception:  # noqa: BLE001 - report, go on with the others, exit 1 at the end
            crashed = True
            traceback.print_exc()
            rows += [Row(f, "CRASHED (see above)", "", None) for f in figures]
    print_table(rows)
    print(f"\n({time.monotonic() - t0:.0f} s; verdicts are information, noise is +-15-35 % "
          "run to run; compare ratios only)")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
