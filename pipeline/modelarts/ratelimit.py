"""Client-side request rate limit: an asyncio token bucket.

The gateway throttles at 200 req/s per API by default (reference section 7.2) and a 429 costs a retry and
a backoff, so the client paces itself below that. The bucket is implemented as GCRA ("virtual scheduling"):
each caller reserves the next free slot under no lock and then sleeps until it. Reservations are handed out
in call order, so waiters are served first come first served and a burst of callers is spread evenly, and a
caller that wakes late does not shift everyone after it (slots are absolute times, not relative sleeps).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """At most `rate` acquisitions per second on average, with bursts of up to `burst` back to back.

    `burst` defaults to a tenth of a second's worth (at least 1): an idle client may start a handful of
    requests at once, but over any window the count stays close to rate x window.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
        if burst is None:
            burst = max(1, int(rate / 10))
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = int(burst)
        self._interval = 1.0 / self.rate
        # How far ahead of "now" the schedule may run before a caller has to wait: burst-1 intervals.
        self._tolerance = (self.burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._tat = -math.inf  # theoretical arrival time of the next request

    def reserve(self) -> float:
        """Take the next slot; return how long the caller must wait before using it (0 if none)."""
        now = self._clock()
        tat = max(self._tat, now)
        wait = tat - self._tolerance - now
        self._tat = tat + self._interval
        return max(0.0, wait)

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
