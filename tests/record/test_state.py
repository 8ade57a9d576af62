"""RunState: one vocabulary of a run's state that reads as the plain word everywhere."""

from __future__ import annotations

import json

from loadnb.record.state import RunState


def test_a_state_reads_as_its_word() -> None:
    state = RunState.RUNNING
    assert state == "running" and str(state) == "running" and f"{state}" == "running"
    assert repr(state) == "'running'"  # a notebook cell shows 'running', not <RunState...>
    assert json.dumps({"state": state}) == '{"state": "running"}'


def test_which_states_are_ended() -> None:
    ended = {s.value for s in RunState if s.ended}
    assert ended == {"done", "stopped", "failed", "interrupted"}
