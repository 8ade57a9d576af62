"""What a run says in words, written once for every face: the live line, the done line, the load
in words, and each state's icon, label, badge and colour.

tqdm's ``format_meter`` is the model: the state is plain data (a snapshot, the run's state, the
scenario's iteration counts), one pure function turns it into text, and the faces only render
that text. The console (:class:`loadnb.console.ConsoleProgress`) fits it to the terminal and
rewrites it in place; the widget (:mod:`loadnb.ui.formatting`) escapes it and wraps it in HTML.
Neither adds, drops or rewords anything, so the terminal and the notebook say the same (a test
holds the two faces to the same string for every state).

The live line (:func:`live_line`), as in the product brief::

    🔄 Running... 45.2% | Active: 15 | RPS: 12.5 | Success: 98.5% | Completed: 1,250

- the label is the state's (:data:`STATES`); a running run whose snapshot is past the load
  (phase ``ending``/``done``: the grace period, in-flight requests finishing) reads
  ``⏳ Stopping...``;
- the icons: ``⏸`` ready, ``🔄`` running, ``⏳`` stopping (an hourglass: the run is winding down,
  waiting for the requests in flight), ``✅`` done, ``⏹`` stopped (the stop button: where a stop
  left it), ``❌`` failed. Stopping and stopped differ on purpose: one is under way, the other
  is over;
- success is "—" until the first response and never ``100.0%`` while a request failed;
- in a final state (done, stopped, failed) RPS is the run's average (requests answered / seconds
  to the last snapshot, the summary's ``avg_rps``): the last interval is usually a partial one;
- failed scenario iterations follow the requests' numbers, ``| ⚠ Iterations 50 failed of 200
  (buy: 50/50)``, since the requests' success rate does not show them.

Imports the snapshot, the iteration wording of the alerts, the spec and the shared numbers and
palette; no pandas, widgets or Bokeh (the CLI imports this on its fast path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple, cast

from ..charts import palette
from ..metrics.snapshot import Snapshot
from ..record.summary import Parameters, Summary
from ..rules.alerts import failed_iterations_text
from ..spec.config import LoadSpec
from ..text.numbers import DASH, count, fixed, ms, percent, rate, trimmed


class StateWords(NamedTuple):
    """How a face shows one state of a run."""

    icon: str
    #: The live line's words after the icon (``Running...``).
    label: str
    #: The badge's words: capitals, no emoji, so a browser without an emoji font reads them.
    badge: str
    #: The badge's background (white text on it) and the state's colour.
    colour: str


#: Every state a face shows, in the order a run goes through them.
STATES: dict[str, StateWords] = {
    "idle": StateWords("⏸", "Ready", "READY", palette.NEUTRAL),
    "running": StateWords("🔄", "Running...", "RUNNING", palette.ACTIVE),
    "stopping": StateWords("⏳", "Stopping...", "STOPPING", palette.WARNING),
    "done": StateWords("✅", "Done", "DONE", palette.OK),
    "stopped": StateWords("⏹", "Stopped", "STOPPED", palette.WARNING),
    "failed": StateWords("❌", "Failed", "FAILED", palette.ERROR),
}
#: States of a finished run: the live line shows the run's average RPS.
FINAL_STATES = frozenset({"done", "stopped", "failed"})


def words_of(state: str) -> StateWords:
    """The :data:`STATES` entry of ``state``; ``ValueError`` for a state no face knows."""
    try:
        return STATES[state]
    except KeyError:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}") from None


def badge(state: str) -> tuple[str, str]:
    """The state badge's words and colour (``("RUNNING", "#1565c0")``); an unknown state still
    shows, in capitals, on the idle colour."""
    known = STATES.get(state)
    return (known.badge, known.colour) if known else (state.upper(), palette.NEUTRAL)


def shown_state(snap: Snapshot | None, state: str) -> str:
    """The state the live line shows: ``stopping`` for a running run whose snapshot is past the
    load (phase ``ending`` or ``done``), else ``state``."""
    if state == "running" and snap is not None and snap.phase in ("ending", "done"):
        return "stopping"
    return state


def live_line(snap: Snapshot | None, state: str = "running",
              iterations: Mapping[str, Sequence[int]] | None = None) -> str:
    """The one live line of a run (see the module docstring); ``snap`` None (no snapshot yet)
    reads zeros. ``state`` is a key of :data:`STATES` (``ValueError`` otherwise);
    ``iterations``: a scenario's task -> ``[iterations, failed]`` so far.

    >>> live_line(Snapshot(0.0, 45.0, 45.2, 15, 1250, 19, 98.5, 12.5, 14.0, 55.0))
    '🔄 Running... 45.2% | Active: 15 | RPS: 12.5 | Success: 98.5% | Completed: 1,250'
    >>> live_line(None, "idle")
    '⏸ Ready 0.0% | Active: 0 | RPS: 0.0 | Success: — | Completed: 0'
    """
    words = words_of(shown_state(snap, state))
    if snap is None:
        return (f"{words.icon} {words.label} 0.0% | Active: 0 | RPS: 0.0 | Success: {DASH}"
                " | Completed: 0")
    rps = snap.current_rps
    if state in FINAL_STATES:
        answered = snap.completed_requests + snap.failed_requests
        rps = answered / snap.elapsed_time if snap.elapsed_time > 0 else math.nan
    progress = fixed(snap.progress_percent, 1)
    line = (f"{words.icon} {words.label} {progress}{'' if progress == DASH else '%'}"
            f" | Active: {count(snap.active_users)} | RPS: {fixed(rps, 1)}"
            f" | Success: {percent(snap.success_rate)}"
            f" | Completed: {count(snap.completed_requests)}")
    failed = failed_iterations_text(iterations or {})
    return line if failed is None else f"{line} | ⚠ Iterations {failed}"


def done_line(summary: Summary) -> str:
    """One sentence about a finished run, from its summary, after its state's icon:
    ``✅ Done after 8.0 s: 1,250 requests, 156.3 req/s on average, success 98.5%, p50 12.3 ms,
    p99 45.6 ms.``"""
    lat = summary["latency_ms"]
    state = summary["state"]
    done = STATES["done"]
    icon, verb = ((STATES[state].icon, STATES[state].label) if state in ("stopped", "failed")
                  else (done.icon, done.label))
    return (f"{icon} {verb} after {fixed(summary['duration_s'], 1)} s: "
            f"{count(summary['total_requests'])} requests, "
            f"{rate(summary['avg_rps'])} on average, "
            f"success {percent(summary['success_rate'])}, "
            f"p50 {ms(lat['p50'])}, p99 {ms(lat['p99'])}.")


def load_text(spec: LoadSpec | Parameters) -> tuple[str, str]:
    """The load and the length of a run, in words: ``("10 users", "8 s")``,
    ``("400 requests/s", "1,000 requests")``, ``("stages up to 20 users", "50 s")``,
    ``("users from ramp(t)", "8 s, at most 1,000 requests")``. Of a spec, or of its public
    parameters (:meth:`LoadSpec.public_params`, a summary's ``parameters``: a stored run)."""
    params = cast("Parameters", spec.public_params()) if isinstance(spec, LoadSpec) else spec
    open_model = params.get("model") == "open" or params.get("rate") is not None
    unit = "requests/s" if open_model else "users"
    stages, shape = params.get("stages"), params.get("shape")
    if stages:
        load = f"stages up to {trimmed(max(v for _, v in stages))} {unit}"
    elif shape:
        load = f"{unit} from {shape}(t)"
    else:
        load = f"{trimmed(params.get('rate') if open_model else params.get('users'))} {unit}"
    duration, requests = params.get("duration"), params.get("requests")
    parts = [f"{trimmed(duration)} s"] if duration is not None else []
    if requests is not None:
        parts.append(f"at most {count(requests)} requests" if parts
                     else f"{count(requests)} requests")
    return load, ", ".join(parts) or DASH


__all__ = ["FINAL_STATES", "STATES", "StateWords", "badge", "done_line", "live_line",
           "load_text", "shown_state", "words_of"]
