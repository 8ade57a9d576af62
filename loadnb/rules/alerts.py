"""The default alert rules; :mod:`~loadnb.rules.alert_engine` fires and clears them.

A rule looks at one :class:`~loadnb.metrics.snapshot.Snapshot` (or at the interval it closes) and
returns a message while its condition holds (None when all is well); the :class:`AlertEngine` fires
it once the condition has held for the rule's ``sustain`` judged snapshots in a row, and clears it
at the first one where it no longer holds. Snapshots a rule does not apply to (e.g. generator
rules skip the final snapshot, the RPS rule skips intervals with a live change) leave its state
as it is.

The defaults (:func:`default_rules`): the target being down or not answering, the brief's two
(success rate below 90 %, RPS below 50 % of the expected rate), a scenario task whose iterations
keep failing, and the generator-bottleneck rules (CPU, event-loop lag, some Dask workers
saturated while others are not, dropped arrivals, requests waiting for a connection), one limit
each. Any callable ``(Snapshot) -> str | None`` is accepted
as a rule too (its ``__name__`` names it). A message never contradicts its rule through rounding:
a value is shown with the decimals that keep it on its side of the limit (89.96 % "below 90 %"
is ``89.96%``, never ``90.0%``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from ..metrics.snapshot import Snapshot
from ..text.numbers import bounded
from .alert_engine import NOT_JUDGED, AlertRule, Verdict
from .thresholds import View

#: The brief's success-rate alert: cumulative success rate below this (percent).
SUCCESS_LIMIT = 90.0
#: The brief's RPS alert: fewer responses per second than this share of the target rate.
RPS_FRACTION = 0.5
#: Process CPU (percent of one core) above which the generator counts as saturated.
CPU_LIMIT = 90.0
#: Event-loop lag (ms) above which requests are being delayed by the generator itself.
LAG_LIMIT_MS = 50.0
#: Intervals a generator condition must last before it fires (one busy tick is no bottleneck);
#: a lag five times the limit fires at once.
SUSTAIN = 2
#: A task's iterations "keep failing" when at least this share of those that ended in an
#: interval failed, for :data:`SUSTAIN` judged intervals in a row.
ITERATION_FAIL_SHARE = 0.5


def _generating(snap: Snapshot) -> bool:
    """The load is being generated (not the final snapshot, whose interval is a partial one)."""
    return snap.phase != "done"


# -- the default rules -----------------------------------------------------------------------------
def low_success_rate(limit: float = SUCCESS_LIMIT) -> AlertRule:
    """Fires while the cumulative success rate is below ``limit`` percent (never while NaN)."""

    def check(snap: Snapshot) -> str | None:
        if snap.success_rate < limit:  # NaN compares False: no alert before any response
            return f"Low success rate: {bounded(snap.success_rate, limit, 1)}% (below {limit:g}%)"
        return None

    return AlertRule("low_success_rate", check)


def _steady_open_interval(snap: Snapshot) -> bool:
    """A running open-model interval with no live change (it ran at one target rate)."""
    return (snap.phase == "running" and not snap.event and not math.isnan(snap.target_rate)
            and snap.target_rate > 0)


def low_rps(fraction: float = RPS_FRACTION) -> AlertRule:
    """Fires when the open model answers fewer than ``fraction`` of its target rate per second.

    The closed model has no expected rate, so the rule does not judge it; nor an interval in
    which the rate was changed live (it ran partly at the old rate), nor the final one.
    """

    def check(snap: Snapshot) -> str | None:
        floor = snap.target_rate * fraction
        if snap.current_rps < floor:
            return (f"Low RPS: {bounded(snap.current_rps, floor, 1)} req/s (target "
                    f"{snap.target_rate:.1f}; below {fraction:.0%} of it)")
        return None

    return AlertRule("low_rps", check, applies=_steady_open_interval)


def generator_cpu(limit: float = CPU_LIMIT) -> AlertRule:
    """Fires when loadnb's process uses more than ``limit`` % of a core for two intervals."""

    def check(snap: Snapshot) -> str | None:
        if snap.cpu_percent > limit:
            return (f"Generator bottleneck: loadnb's process used "
                    f"{bounded(snap.cpu_percent, limit, 0)}% of a "
                    "CPU core, so the results may measure the generator rather than the target. "
                    "Lower the load or spread it over more processes.")
        return None

    return AlertRule("generator_cpu", check, sustain=SUSTAIN, applies=_generating)


def generator_lag(limit_ms: float = LAG_LIMIT_MS) -> AlertRule:
    """Fires when the generator's event loop is late by more than ``limit_ms`` for two
    intervals (at once when five times that)."""
    severe = 5 * limit_ms

    def check(snap: Snapshot) -> str | None:
        if snap.loop_lag_ms > limit_ms:
            return (f"Generator bottleneck: the event loop ran up to "
                    f"{bounded(snap.loop_lag_ms, limit_ms, 0)} ms "
                    "late, so requests were sent late and latencies include that delay. "
                    "Something in this process (a blocking call, another busy task) is "
                    "holding the loop.")
        return None

    return AlertRule("generator_lag", check, sustain=SUSTAIN, applies=_generating,
                     urgent=lambda snap: snap.loop_lag_ms > severe)


def dropped_arrivals(max_in_flight: int = 0) -> AlertRule:
    """Fires in every interval in which the open model dropped arrivals at ``max_in_flight``."""

    def check(snap: Snapshot) -> str | None:
        if snap.interval_dropped > 0:
            cap = f"{max_in_flight:,} were" if max_in_flight else "the cap was"
            return (f"Arrivals dropped: {snap.dropped_arrivals:,} requests were not sent "
                    f"because {cap} already in flight (max_in_flight). The target is slower "
                    "than the arrival rate, or max_in_flight is too low.")
        return None

    return AlertRule("dropped_arrivals", check)


def waiting_for_connection(pool_size: int = 0) -> AlertRule:
    """Fires when requests wait for a free pooled connection for two intervals."""

    def check(snap: Snapshot) -> str | None:
        waiting = snap.waiting_for_connection
        if waiting > 0:
            pool = f"pool of {pool_size:,}" if pool_size else "pool full"
            return (f"Requests are waiting for a free connection ({waiting:,} at once; {pool}): "
                    "latencies include that wait. Raise connections to match the load.")
        return None

    return AlertRule("waiting_for_connection", check, sustain=SUSTAIN, applies=_generating)


#: Error kinds of a request that never reached the target: nothing accepted the connection.
UNREACHED_KINDS = frozenset({"connection refused", "DNS error"})
#: Error kinds of a request that got no usable HTTP response from a target that accepted it.
UNANSWERED_KINDS = frozenset({"timeout", "connection reset", "invalid HTTP response",
                              "incomplete body", "TLS error"})
#: Both: the transport's kinds of a request that got no HTTP response (``transport.base``).
TRANSPORT_KINDS = UNREACHED_KINDS | UNANSWERED_KINDS


def _failures_in_interval(snap: Snapshot) -> bool:
    return snap.interval_failed > 0


def _only_kind(snap: Snapshot) -> str | None:
    """The one error kind of the interval's failures while no request has succeeded yet."""
    if snap.completed_requests or not snap.failed_requests:
        return None
    kinds = [k for k, n in snap.interval_errors.items() if n]
    return kinds[0] if len(kinds) == 1 else None


def target_down() -> AlertRule:
    """Fires while no request has succeeded yet and every failure of the interval is a refused
    connection or a failed DNS lookup: the target is down or unreachable. Clears at the first
    success. (A target that accepts connections and answers none is :func:`no_response`.)"""

    def check(snap: Snapshot) -> str | None:
        kind = _only_kind(snap)
        if kind not in UNREACHED_KINDS:
            return None
        if kind == "connection refused":
            return "the target refused every connection"
        return f"every request failed: {kind}"

    return AlertRule("target_down", check, applies=_failures_in_interval)


def no_response(timeout: float | None = None) -> AlertRule:
    """Fires while no request has succeeded yet and every failure of the interval is one kind
    of missing answer from a target that took the connection: every request timed out (after
    ``timeout`` seconds, the run's, when given), or every connection was reset, or every answer
    was not HTTP. Clears at the first success."""
    after = "" if timeout is None else f" after {timeout:g} s"

    def check(snap: Snapshot) -> str | None:
        kind = _only_kind(snap)
        if kind not in UNANSWERED_KINDS:
            return None
        if kind == "timeout":
            return f"every request timed out{after}"
        return f"every request failed: {kind} (the target accepted connections)"

    return AlertRule("no_response", check, applies=_failures_in_interval)


def worker_saturated(cpu_limit: float = CPU_LIMIT, lag_limit_ms: float = LAG_LIMIT_MS,
                     sustain: int = SUSTAIN) -> AlertRule:
    """Fires when some worker processes of a run on Dask are saturated (their own event loop
    late by more than ``lag_limit_ms``, or their CPU above ``cpu_limit`` % of a core) while at
    least one other is not, for ``sustain`` intervals in a row: their share of the load is sent
    late (a blocking call in a scenario, a slower or busier machine). Judged only in intervals
    with two or more live workers that reported."""

    def saturated(row: Sequence[Any]) -> str | None:
        lag, cpu = row[4], row[5]
        if lag > lag_limit_ms:
            return f"worker {row[0]} (loop {bounded(lag, lag_limit_ms, 0)} ms late)"
        if cpu > cpu_limit:
            return f"worker {row[0]} (CPU {bounded(cpu, cpu_limit, 0)}%)"
        return None

    def judge(view: View) -> Verdict:
        rows = [r for r in view.workers()
                if not r[6] and not (math.isnan(r[4]) and math.isnan(r[5]))]
        if len(rows) < 2:
            return NOT_JUDGED
        busy = [text for r in rows if (text := saturated(r)) is not None]
        if not busy or len(busy) == len(rows):
            return None  # all saturated: generator_cpu and generator_lag say so
        return (f"Worker saturated: {', '.join(busy[:3])}{' and more' if len(busy) > 3 else ''}"
                f", while {len(rows) - len(busy)} of {len(rows)} workers are not: its share of "
                "the load is sent late. A blocking call in a scenario, or a slower or busier "
                "machine, holds that worker back.")

    return AlertRule("worker_saturated", _not_a_snapshot_check, sustain=sustain,
                     on_interval=judge)


def failed_iterations_text(iterations: Mapping[str, Sequence[int]]) -> str | None:
    """``50 failed of 200 (buy: 50/50)``: failed scenario iterations of every task, and of each
    task with failures (most first); None when none failed. ``iterations``: task ->
    ``[iterations, failed]``, as :attr:`~loadnb.metrics.stats.IntervalStats.iterations` holds
    them."""
    failing = sorted(((t, c) for t, c in iterations.items() if c[1]), key=lambda tc: -tc[1][1])
    if not failing:
        return None
    total = sum(c[0] for c in iterations.values())
    failed = sum(c[1] for _, c in failing)
    tasks = ", ".join(f"{task}: {f:,}/{n:,}" for task, (n, f) in failing[:3])
    more = f", +{len(failing) - 3} more" if len(failing) > 3 else ""
    return f"{failed:,} failed of {total:,} ({tasks}{more})"


def iterations_failing(share: float = ITERATION_FAIL_SHARE,
                       sustain: int = SUSTAIN) -> AlertRule:
    """Fires when a scenario task's iterations keep failing: at least ``share`` of the task's
    iterations that ended in an interval failed (an exception in the scenario code), in
    ``sustain`` intervals in a row in which the task ran (an interval in which it did not run
    changes nothing for it). Clears when every such task has had an interval below ``share``.
    The message names the tasks, their counts in the interval and the most frequent reason."""
    streaks: WeakKeyDictionary[View, dict[str, int]] = WeakKeyDictionary()  # per run's view

    def judge(view: View) -> Verdict:
        merged = view.tallies()
        ended = {t: c for t, c in merged.iterations.items() if c[0]}
        if not ended:
            return NOT_JUDGED
        mine = streaks.setdefault(view, {})
        for task, (n, f) in ended.items():
            mine[task] = mine.get(task, 0) + 1 if f >= share * n else 0
        failing = [task for task, streak in mine.items() if streak >= sustain]
        if not failing:
            return None
        parts = [f"{t} {ended[t][1]:,} of {ended[t][0]:,}" if t in ended else t for t in failing]
        return (f"Iterations keep failing: {', '.join(parts)} in the last interval "
                f"({_top_reason(merged.iteration_errors, failing)})")

    return AlertRule("iterations_failing", _not_a_snapshot_check, on_interval=judge)


def _not_a_snapshot_check(snap: Snapshot) -> str | None:
    return None  # judged on the interval (on_interval)


def _top_reason(errors: Mapping[str, int], tasks: list[str]) -> str:
    """The most frequent failure kind of ``tasks`` (``errors``: ``"task\x00kind"`` -> n)."""
    kinds: dict[str, int] = {}
    for key, n in errors.items():
        task, _, kind = key.partition("\x00")
        if task in tasks:
            kinds[kind] = kinds.get(kind, 0) + n
    return max(kinds, key=lambda k: kinds[k]) if kinds else "no reason kept"


def default_rules(*, pool_size: int = 0, max_in_flight: int = 0,
                  timeout: float | None = None) -> list[AlertRule]:
    """A fresh list of the default rules (the target being down or not answering, the brief's
    two, a task whose iterations keep failing, then the generator's health). ``timeout``: the
    run's request timeout in seconds, for the no-response message."""
    return [target_down(), no_response(timeout), low_success_rate(), low_rps(),
            iterations_failing(), generator_cpu(), generator_lag(), worker_saturated(),
            dropped_arrivals(max_in_flight), waiting_for_connection(pool_size)]


__all__ = ["CPU_LIMIT", "LAG_LIMIT_MS", "default_rules", "dropped_arrivals",
           "failed_iterations_text", "generator_cpu", "generator_lag", "iterations_failing",
           "low_rps", "low_success_rate", "no_response", "target_down", "waiting_for_connection",
           "worker_saturated"]
