"""Figures 1 and 2: throughput against wrk and raw clients, and the cost of monitoring."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import (
    Measured,
    Nginx,
    fmt_rate,
    measured,
    median,
    median_error,
    request_bytes,
    run_child,
    run_wrk,
    spread,
)
from benchmarks.figures_base import (
    FIGURES,
    USERS,
    Mode,
    Row,
    failure_note,
    section,
    share_note,
    starved_note,
    timeout_for,
)


# -- 1. throughput ------------------------------------------------------------------------------
def _variants(dur: float) -> dict[str, Callable[[str], Measured]]:
    """The generators figure 1 compares, each a function of nginx's URL, in interleaving order."""
    return {
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


def _interleaved(variants: dict[str, Callable[[str], Measured]],
                 reps: int) -> dict[str, list[Measured]]:
    """``reps`` rounds of every variant against one nginx, each round starting one further on."""
    names = list(variants)
    runs: dict[str, list[Measured]] = {n: [] for n in names}
    with Nginx() as nginx:
        for rep in range(reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                m = variants[name](nginx.url)
                runs[name].append(m)
                print(f"  run {rep + 1} {name:<13} {fmt_rate(m.rate):>12}  "
                      f"{fmt_rate(m.per_cpu_second):>12} per CPU-s  "
                      f"{share_note(m)}{failure_note(m)}", flush=True)
    return runs


def _ratios(runs: dict[str, list[Measured]], num: str, den: str, per_cpu: bool = False,
            total: bool = False) -> list[float]:
    """Run by run: ``num``'s rate (or per CPU-second; ``total``: start-up in) / ``den``'s."""
    def value(m: Measured) -> float:
        if total:  # per CPU-second of the whole process: start-up (imports) included
            cpu = float(m.extra.get("cpu_total") or 0.0)
            return m.requests / cpu if cpu > 0 else 0.0
        return m.per_cpu_second if per_cpu else m.rate
    return [value(a) / value(b) if value(b) else math.nan
            for a, b in zip(runs[num], runs[den], strict=True)]


def throughput(mode: Mode) -> list[Row]:
    section(f"1. Throughput, keep-alive GET, {USERS} connections, one generator core "
            f"({mode.reps} x {mode.seconds:g} s each, interleaved)")
    runs = _interleaved(_variants(mode.seconds), mode.reps)
    names = list(runs)
    print("  medians: " + ", ".join(f"{n} {fmt_rate(median(m.rate for m in runs[n]))}"
                                    for n in names))
    print("  medians per CPU-second: " + ", ".join(
        f"{n} {fmt_rate(median(m.per_cpu_second for m in runs[n]))}" for n in names))
    return _throughput_rows(runs)


def _throughput_rows(runs: dict[str, list[Measured]]) -> list[Row]:
    """Prints figure 1's ratios (medians of the run-by-run ratios) and returns its rows."""
    def ratios(num: str, den: str, per_cpu: bool = False, total: bool = False) -> list[float]:
        return _ratios(runs, num, den, per_cpu, total)

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
