"""The terminal face of the live line: :class:`ConsoleProgress`, the subscriber that writes
:func:`loadnb.results.words.live_line` to a terminal or a log (fitted to the terminal's width,
rewritten in place), and :func:`format_alert`: alert fires and clears on lines of their own."""

from __future__ import annotations

import math
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..metrics.snapshot import Snapshot
from ..record.state import RunState
from ..record.update import Update
from ..results.words import FINAL_STATES, live_line, words_of
from ..rules.alert_engine import AlertEvent
from ..text.numbers import fixed

if TYPE_CHECKING:
    from ..runner.run import Run

_CLEAR_EOL = "\x1b[K"
#: The run states the line shows as they come (``running`` is the line's own default).
_SHOWN_STATES = frozenset({RunState.STOPPING, RunState.DONE, RunState.STOPPED, RunState.FAILED})


def format_alert(event: AlertEvent | Mapping[str, Any], what: str | None = None) -> str:
    """One alert event as a line: ``⚠ alert low_success_rate fired at 3.0 s: …`` or, for a
    clear, ``✓ alert low_success_rate cleared at 5.5 s``. ``what`` is ``fired`` or ``cleared``
    (default: from the event); a summary's alert dicts format too."""
    data = event.as_dict() if isinstance(event, AlertEvent) else dict(event)
    cleared = data.get("cleared_at")
    if what is None:
        what = "fired" if cleared is None else "cleared"
    if what == "cleared":
        return f"✓ alert {data.get('rule')} cleared at {fixed(float(cleared or 0.0), 1)} s"
    return (f"⚠ alert {data.get('rule')} fired at {fixed(float(data.get('fired_at') or 0.0), 1)}"
            f" s: {data.get('message')}")


# -- the live line -----------------------------------------------------------------------------
def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fit(text: str, columns: int) -> str:
    """``text`` cut to fit ``columns - 1`` terminal cells (so the cursor never wraps)."""
    if columns <= 1 or _display_width(text) < columns:
        return text
    out, used = [], 0
    for c in text:
        w = 2 if unicodedata.east_asian_width(c) in "WF" else 1
        if used + w > columns - 2:
            break
        out.append(c)
        used += w
    return "".join(out) + "…"


class ConsoleProgress:
    """A run subscriber that shows the live line (:func:`loadnb.results.words.live_line`) on a
    text stream (stderr by default), as it is: the terminal face adds no words of its own.

    On a terminal the line is rewritten in place (``\\r`` and clear to end of line); otherwise a
    new line is written at most once every ``min_interval`` seconds (``clock`` is injectable), and
    the final line is always written. Call :meth:`close` at the end to finish the line.

    Example::

        progress = ConsoleProgress()
        progress.attach(run)      # subscribe + follow the run's state (Stopping, Done, ...)
        result = await run.run()
        progress.close()
    """

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None,
                 min_interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError, OSError):
                tty = False
        self.tty = tty
        self.min_interval = min_interval
        self.state = "running"
        self._clock = clock
        self._dumb = os.environ.get("TERM") == "dumb"
        self._last: Snapshot | None = None
        self._iterations: Mapping[str, Sequence[int]] | None = None
        self._printed_at = -math.inf
        self._shown = ""  # text currently on the terminal line (tty) or last printed (not tty)
        self._pending = False  # the latest line was not written yet (not tty)

    def __call__(self, snap: Snapshot) -> None:
        """Take a snapshot (the subscriber interface)."""
        self.update(snap)

    def update(self, snap: Snapshot,
               iterations: Mapping[str, Sequence[int]] | None = None) -> None:
        """Take a snapshot and the scenario's iteration counts so far (task ->
        ``[iterations, failed]``: failed ones are said at the end of the line)."""
        self._last, self._iterations = snap, iterations
        self._render(force=False)

    def attach(self, run: Run) -> Callable[[], None]:
        """Subscribe to ``run``, follow its state changes and print its alerts as they fire and
        clear; returns the unsubscribe function."""
        run.on_state(self._on_state)
        run.on_alert(self.alert)
        return run.watch(self._on_update)

    def alert(self, event: AlertEvent, what: str) -> None:
        """Print an alert fire or clear on a line of its own (above the live line on a tty)."""
        line = format_alert(event, what)
        if self.tty:
            pad = " " * max(0, len(self._shown) - len(line)) if self._dumb else _CLEAR_EOL
            self._write(f"\r{line}{pad}\n")
            self._shown = ""
            self._render(force=True)
        else:
            self._write(line + "\n")

    def set_state(self, state: str) -> None:
        """Show ``state`` (a key of :data:`loadnb.results.words.STATES`); a final state writes
        the last line now."""
        words_of(state)  # ValueError for a state no face knows
        if state != self.state:
            self.state = state
            self._render(force=state in FINAL_STATES)

    def close(self) -> None:
        """Finish the line (a newline on a terminal; the last unwritten line otherwise)."""
        if self.tty:
            if self._shown:
                self._write("\n")
                self._shown = ""
        elif self._pending:
            self._render(force=True)

    def _on_update(self, update: Update) -> None:
        """A snapshot with the state it came with: the line the widget shows for it too."""
        if update.state in _SHOWN_STATES:
            self.state = str(update.state)
        self._last, self._iterations = update.snapshot, update.iterations
        self._render(force=update.state.ended)

    def _on_state(self, run: Run) -> None:
        if run.state in _SHOWN_STATES:
            self.set_state(str(run.state))

    def _render(self, *, force: bool) -> None:
        if self._last is None:
            return
        text = live_line(self._last, self.state, self._iterations)
        if self.tty:
            text = _fit(text, self._columns())
            if text != self._shown:
                pad = " " * max(0, len(self._shown) - len(text)) if self._dumb else _CLEAR_EOL
                self._write(f"\r{text}{pad}")
                self._shown = text
            return
        now = self._clock()
        quiet = self._last.phase == "done" and self.state not in FINAL_STATES
        if not force and (quiet or now - self._printed_at < self.min_interval):
            self._pending = text != self._shown
            return
        if text != self._shown:
            self._write(text + "\n")
            self._shown, self._printed_at = text, now
        self._pending = False

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            return 0

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


__all__ = ["ConsoleProgress", "format_alert"]
