"""Figures 4 and 5: memory growth of a long full-speed run, and the latency of a stop."""

from __future__ import annotations

from benchmarks.common import Nginx, median, run_child
from benchmarks.figures_base import FIGURES, USERS, Mode, Row, section, timeout_for


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
