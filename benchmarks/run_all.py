"""loadnb benchmarks: throughput vs wrk, monitoring cost, pacing, memory, stop latency.

    .venv/bin/python benchmarks/run_all.py            # about 4 minutes (make bench)
    .venv/bin/python benchmarks/run_all.py --quick    # about 1 minute
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


MODES = {
    "full": Mode("full", 3, 5.0, 10.0, 3, 60.0, 10, 1.0, 10, 2.0),
    "quick": Mode("quick", 3, 1.0, 2.0, 3, 25.0, 5, 0.5, 6, 1.5),
    "smoke": Mode("smoke", 1, 1.0, 1.0, 1, None, 3, 0.3, 1, 1.0),
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
    "2  monitoring cost (0.5 s ticks)",
    "3a open 2000/s achieved/target",
    "3b open 2000/s send lag p99",
    "3c open 2000/s generator CPU",
    "4  memory growth per 10 min",
    "5  stop -> final snapshot (median)",
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

    def ratios(num: str, den: str, per_cpu: bool = False) -> list[float]:
        def value(m: Measured) -> float:
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
             "fast/aiohttp_path": ratios("fast", "aiohttp_path")}
    for label, values in {"fast/wrk": fast, "fast/wrk per CPU-s": cpu, "fast_stdloop/wrk": std,
                          "aiohttp_path/bare_aiohttp": aio, **extra}.items():
        print(f"  {label:<28} {median(values):.3f}{spread(values)}")
    starved_note(runs)
    flag = starved_note({n: runs[n] for n in ("wrk", "fast")}, say=False)
    flag_std = starved_note({n: runs[n] for n in ("wrk", "fast_stdloop")}, say=False)
    flag_aio = starved_note({n: runs[n] for n in ("aiohttp_path", "bare_aiohttp")}, say=False)
    std_cpu, aio_cpu = extra["fast_stdloop/wrk per CPU-s"], extra["aiohttp_path/bare per CPU-s"]
    return [
        Row(FIGURES[0], f"{median(fast):.2f}x{spread(fast)}{flag}", ">= 0.65x",
            median(fast) >= 0.65),
        Row(FIGURES[1], f"{median(cpu):.2f}x{spread(cpu)}", "(info)", None),
        Row(FIGURES[2], f"{median(std):.2f}x{spread(std)} (per CPU-s {median(std_cpu):.2f}x)"
            f"{flag_std}", ">= 0.20x", median(std) >= 0.20),
        Row(FIGURES[3], f"{median(aio):.2f}x{spread(aio)} (per CPU-s {median(aio_cpu):.2f}x)"
            f"{flag_aio}", ">= 0.90x", median(aio) >= 0.90),
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
    return [Row(FIGURES[4], f"{cost:+.1%} ±{noise:.1%} (ratio {median(rate):.3f}; per CPU-s "
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
    out = {"achieved": r["requests"] / r["seconds"] / rate, "lag99": lag["p99"],
           "cpu": r["cpu"] / r["wall"], "steady": r["steady_rps_min"] / rate}
    print(f"  {label}: {r['requests']:,} answered in {r['seconds']:.3f} s (server counted "
          f"{server:,}; failed {r['failed']}, dropped {r['dropped']}) -> {out['achieved']:.4f} "
          f"of target; slowest interval {out['steady']:.3f}")
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
    print("  send lag = when each request was actually sent (clock read as Transport.send is "
          "called) minus its\n  intended time t0 + k/rate; 'resp-svc' = summary latency_ms minus "
          "service_ms at the same percentile\n  (an indirect view of the same lag); loop-lag "
          "probe = the monitor's loop_lag_ms per snapshot")
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
        Row(FIGURES[5], f"{ach:.4f} (slowest interval {steady:.3f})", "within 1 %",
            abs(ach - 1) <= 0.01),
        Row(FIGURES[6], f"{median(lag99):.3f} ms{spread(lag99)}", "< 1 ms", median(lag99) < 1.0),
        Row(FIGURES[7], f"{median(cpu):.2f} of a core{spread(cpu)}", "< 0.5 core, no busy spin",
            median(cpu) < 0.5),
    ]


# -- 4. memory ----------------------------------------------------------------------------------
def memory(mode: Mode) -> list[Row]:
    seconds = mode.memory_seconds
    if seconds is None:
        section("4. Memory: skipped (--smoke)")
        return [Row(FIGURES[8], "skipped (--smoke)", "< 50 MB", None)]
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
    return [Row(FIGURES[8], f"{per10:+.1f} MB ({label}; {grew:+.1f} MB seen)", "< 50 MB",
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
    return [Row(FIGURES[9], f"{med:.1f} ms (wait() {median(wait):.1f} ms; max "
                f"{max(final):.1f} ms)", "< 100 ms", med < 100)]


BENCHMARKS: tuple[tuple[tuple[str, ...], Callable[[Mode], list[Row]]], ...] = (
    (FIGURES[0:4], throughput),
    (FIGURES[4:5], monitoring),
    (FIGURES[5:8], pacing),
    (FIGURES[8:9], memory),
    (FIGURES[9:10], stop_latency),
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
