"""Notifications: every alert fire and clear POSTed as JSON to a webhook, off the load's path.

The payload has the ``text`` field chat tools (Slack, Mattermost, Teams connectors, Discord's
Slack-compatible endpoint) display, plus the structured event::

    {"text": "⚠ loadnb alert low_success_rate fired at 3.0 s: Low success rate: 45.0% …",
     "event": {"rule": ..., "message": ..., "fired_at": ..., "cleared_at": ...},
     "what": "fired", "run_id": "…", "target": "GET http://127.0.0.1:8000/"}

Each POST is a task of its own with a timeout, on a session of its own (never the load's pool):
a receiver that hangs or refuses never slows the load. Failures are counted and reported as one
warning of the run; at the end of the run pending posts get at most :data:`FLUSH_SECONDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..text.redact import redact_webhook as shown_url
from .alert_engine import AlertEvent

if TYPE_CHECKING:  # (imported by the first post: most runs have no webhook)
    import aiohttp

#: Seconds each POST may take.
TIMEOUT = 5.0
#: Seconds the end of a run waits for posts still pending.
FLUSH_SECONDS = 1.0
#: Posts pending at once beyond which new events are dropped (and counted as failed).
MAX_PENDING = 100


def alert_text(event: AlertEvent, what: str) -> str:
    """The one-line text of an alert event."""
    if what == "cleared":
        return f"✓ loadnb alert {event.rule} cleared at {event.cleared_at or 0.0:.1f} s"
    return f"⚠ loadnb alert {event.rule} fired at {event.fired_at:.1f} s: {event.message}"


class Webhook:
    """An alert listener that POSTs each event to ``url`` (see the module docstring).

    Example::

        hook = Webhook("http://127.0.0.1:9000/hook", run_id="r1", target="GET /",
                       warn=print)
        run.on_alert(hook)
        ...
        await hook.aclose()
    """

    def __init__(self, url: str, *, run_id: str, target: str, warn: Callable[[str], None],
                 timeout: float = TIMEOUT) -> None:
        self.url, self.run_id, self.target, self.warn = url, run_id, target, warn
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self._pending: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._last_error = ""

    def __call__(self, event: AlertEvent, what: str) -> None:
        """Queue the POST of one event (returns at once)."""
        if len(self._pending) >= MAX_PENDING:
            self.failed += 1
            self._last_error = f"more than {MAX_PENDING} posts pending"
            return
        payload = {"text": alert_text(event, what), "event": event.as_dict(), "what": what,
                   "run_id": self.run_id, "target": self.target}
        task = asyncio.get_running_loop().create_task(self._post(payload))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post(self, payload: dict[str, Any]) -> None:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.post(self.url, json=payload) as resp:
                await resp.read()
                if resp.status >= 400:
                    raise RuntimeError(f"HTTP {resp.status}")
            self.sent += 1
        except Exception as exc:  # noqa: BLE001 - a failed notification never stops the run
            self.failed += 1
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._last_error = text.replace(self.url, shown_url(self.url))

    async def aclose(self, wait: float = FLUSH_SECONDS) -> None:
        """Give pending posts up to ``wait`` seconds, cancel the rest, report failures."""
        pending = set(self._pending)
        if pending:
            _, late = await asyncio.wait(pending, timeout=wait)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
                self.failed += len(late)
                self._last_error = self._last_error or "no answer before the run ended"
        if self._session is not None:
            await self._session.close()
        if self.failed:
            self.warn(f"{self.failed} of {self.sent + self.failed} alert notifications to "
                      f"{shown_url(self.url)} failed (last: {self._last_error})")


__all__ = ["FLUSH_SECONDS", "MAX_PENDING", "TIMEOUT", "Webhook", "alert_text"]
