"""How late does the event loop wake up? A gauge and a histogram for the alert MCUEventLoopBlocked.

Everything a worker does (streams, timers, the HTTP edge, /health) shares one asyncio loop, so a
single slow call inside it (a calendar walking to year 9999, a synchronous store read) stalls all
of it, and past the Kafka session timeout the group rebalances. Nothing else measures that: the
stage histograms time records, not the gaps between them. So a task sleeps ``INTERVAL_SECONDS``
again and again and records how much later than asked it woke up. A blocked loop shows as one
late wake-up as long as the block, observed when the loop runs again.
"""

import asyncio
import time
from collections import deque

import faust

from mcu.metrics import EVENT_LOOP_LAG, EVENT_LOOP_LAG_MAX

INTERVAL_SECONDS = 0.25
WINDOW_SECONDS = 60.0  # the gauge holds the worst lag of this window: Prometheus scrapes every 15–30 s


class LagWindow:
    """The largest lag observed within the last ``window`` seconds (monotonic clock)."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self._seen: deque[tuple[float, float]] = deque()  # (when, lag), lags decreasing from the left

    def add(self, now: float, lag: float) -> float:
        # A monotonic deque: an older, smaller lag can never be the maximum again once a larger one came.
        while self._seen and self._seen[-1][1] <= lag:
            self._seen.pop()
        self._seen.append((now, lag))
        while self._seen[0][0] < now - self.window:
            self._seen.popleft()
        return self._seen[0][1]


async def measure(interval: float = INTERVAL_SECONDS, window: LagWindow | None = None) -> None:
    """Run for ever: sleep, measure the oversleep, export it."""
    window = window or LagWindow()
    while True:
        asked = time.monotonic()
        await asyncio.sleep(interval)
        woke = time.monotonic()
        lag = max(0.0, woke - asked - interval)
        EVENT_LOOP_LAG.observe(lag)
        EVENT_LOOP_LAG_MAX.set(window.add(woke, lag))


def start_probe(app: faust.App) -> None:
    EVENT_LOOP_LAG_MAX.set(0)  # exported from the first scrape, before the first wake-up

    @app.task
    async def loop_lag_probe() -> None:
        await measure()
