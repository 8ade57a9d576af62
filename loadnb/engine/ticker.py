"""The one tick loop: call a function every interval, on a fixed schedule, and measure how late
the event loop wakes up meanwhile.

Between ticks the ticker wakes every :data:`PROBE` seconds; how late each wake-up is, is the
event-loop lag any request start suffers too. The driver's monitor and every Dask worker's share
tick with it (their payloads carry the lag they measured).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

#: How often the loop-lag probe wakes up between ticks (seconds).
PROBE = 0.02

Clock = Callable[[], float]


class Ticker:
    """Calls ``on_tick(lag)`` every ``interval`` seconds from ``start`` (the clock's reading;
    default: when :meth:`run` starts), with ``lag`` the worst wake-up delay since the last tick,
    in seconds. A tick that falls behind realigns rather than firing twice in a row.

    Example::

        ticker = Ticker(0.5, lambda lag: print(f"lag {lag * 1e3:.1f} ms"))
        task = asyncio.create_task(ticker.run())   # ... task.cancel()
    """

    def __init__(self, interval: float, on_tick: Callable[[float], None], *,
                 clock: Clock = time.perf_counter, probe: float = PROBE) -> None:
        self.interval, self.on_tick, self._clock = interval, on_tick, clock
        self.probe = min(probe, interval / 5)
        #: The worst wake-up delay since the last tick (seconds): what a final tick reports.
        self.lag = 0.0

    async def run(self, start: float = math.nan) -> None:
        """Tick until cancelled."""
        clock, interval = self._clock, self.interval
        due = (clock() if math.isnan(start) else start) + interval
        while True:
            wake = min(due, clock() + self.probe)
            await asyncio.sleep(max(0.0, wake - clock()))
            now = clock()
            self.lag = max(self.lag, now - wake)
            if now < due:
                continue
            lag, self.lag = self.lag, 0.0
            self.on_tick(lag)
            due += interval
            if due - now < interval / 2:  # fell behind: realign rather than tick twice quickly
                due = now + interval


__all__ = ["PROBE", "Ticker"]
