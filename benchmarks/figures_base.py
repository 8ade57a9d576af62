"""What every benchmark figure shares: the run mode, a table row, the figure names, notes."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.common import Measured

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
    "6c raw open-loop client / its closed",
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
