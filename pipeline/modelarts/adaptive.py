"""Adaptive request rate (`fetch.rate_limit: auto`): find the gateway's limit instead of asking the user for it.

One `AdaptiveRate` per endpoint paces every attempt sent to it (all the clients of that endpoint share it) and
bounds how many are in flight. It learns the limit from the only signal the gateway gives, 429 APIGW.0308:

- Measurement windows. The rate changes only between windows: a window is the attempts sent at one rate, and
  it is judged once enough of them have come back (at least `MIN_WINDOW`, a fifth of a second's worth),
  or early, after `EARLY_429` 429s.
- Increase while nothing is throttled and the pace is what holds the calls back (the window sent at least
  `USED` of what the rate allowed: a rate the client cannot use, or has no calls for, proves nothing):
  multiplicatively (x`SLOW_START_PER_S` per second, "slow start") up to `slow_start_until` (the rate the previous snapshot settled on when a 429 had measured it, twice that when
  none had, else `SLOW_START_CEILING`, the gateway's documented default), additively above it (a share of the
  rate per second: `PROBE_UNKNOWN` before a 429 in this run measured the limit, `PROBE_KNOWN` after, below the
  measured limit, `PROBE_ABOVE` above it), so that the rate creeps over the limit instead of leaping past it.
- Decrease on 429: while the gateway's bucket is empty it admits `limit` of every `rate` attempts, so the share
  throttled in the window measures the limit: limit ~ rate x (1 - throttled share). The new rate is
  `MARGIN` x that, never more than `MAX_CUT` x the old one; it exits slow start. The share is counted from the
  answers after the window's first 429, at least `EARLY_SAMPLE` of them (a window is not judged before). One cut per
  window: the 429s
  of attempts sent before the cut say nothing about the new rate. Two runs sharing an access key each see
  the same throttled share and each cut in proportion to its own rate: together they land under the limit.
- Retry-After on a 429 holds every attempt to the endpoint until then (the gateway asked the access key,
  not the one call, to wait).
- Concurrency follows from Little's law: rate x measured latency (an average of successful attempts) x
  `HEADROOM`, at least `MIN_CONCURRENCY`, at most the configured `fetch.concurrency`.

A gateway with a burst allowance (the simulator's, like APIG's per-second policy, holds a second's worth)
hides the limit until the burst is spent; while it is not full, time spent under the limit is earned back
above it, so the sawtooth around the limit loses little. `settled_rps` is what the next snapshot starts from.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipeline.modelarts.ratelimit import TokenBucket

START_RPS = 100.0  # with nothing stored: half the gateway's documented default of 200 req/s per API
SLOW_START_CEILING = 200.0  # multiplicative growth stops here with nothing stored (the documented default)
# Slow start doubles the rate per second, not faster: a gateway's burst allowance (a second's worth) hides the
# limit until it is spent, and the faster the growth, the further past the limit the rate is by then (doubling
# per second: ~2.7x with a full burst; x1.5 per tenth of a second: ~5x), each excess attempt one more 429.
SLOW_START_PER_S = 2.0
MIN_WINDOW = 16  # attempts back before a window is judged: the throttled share of fewer is too noisy a measure
WINDOW_S = 0.2  # ... or a fifth of a second's worth of them, whichever is more
EARLY_SAMPLE = 8  # answers after a window's first 429 that measure the limit (with EARLY_429 429s: early)
MARGIN = 0.95  # the new rate after a 429, as a share of the measured limit
MAX_CUT = 0.9  # a 429 always lowers the rate by at least 10 %
MIN_CUT = 0.4  # ... and by at most 60 % at once (a small sample can say "all throttled")
HEADROOM = 2.0  # concurrency = rate x latency x this
MIN_CONCURRENCY = 4
FLOOR_RPS = 1.0
LATENCY_WEIGHT = 0.1  # of a new sample in the latency average
EARLY_429 = 4  # 429s that end a window early (with EARLY_SAMPLE answers after its first 429)
PROBE_KNOWN = 0.03  # additive increase, req/s per second, as a share of the rate, once a 429 measured the limit
PROBE_ABOVE = 0.01  # ... and above the limit it measured
PROBE_UNKNOWN = 0.3  # ... while no 429 was met yet
UNKNOWN_HEADROOM = 1.5  # slow start from a stored rate that met no 429 goes this far above it
SETTLE_SPAN_S = 1.0  # a run shorter than this says nothing of what the gateway admits on average
USED = 0.8  # the rate grows only when the window sent at least this share of it (the pace was what held back)


@dataclass(frozen=True)
class Ticket:
    """One attempt's permission to go: which window it belongs to and the rate it was paced at."""

    window: int
    rate: float


class AdaptiveRate:
    """AIMD pacing of one endpoint. `acquire()` before an attempt, `done(ticket, ...)` after it (always)."""

    def __init__(
        self,
        start_rps: float | None = None,
        *,
        limit_known: bool = False,
        max_concurrency: int = 128,
        ceiling_rps: float = 10_000.0,
        additive_step: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        stored = start_rps is not None and start_rps > 0 and math.isfinite(start_rps)
        self.ceiling = float(ceiling_rps)
        self.start_rps = min(self.ceiling, max(FLOOR_RPS, float(start_rps))) if stored else START_RPS
        self.rate = self.start_rps
        # A stored rate that a 429 measured is what the gateway allowed last time: grow fast only up to it,
        # carefully beyond. One that met no 429 is what the gateway admitted on average (settled_rps): the limit
        # is at least that, how far above is unknown: grow fast to half as much again (`UNKNOWN_HEADROOM`), then
        # additively. Doubling from it overshot a 200 req/s gateway to ~400 req/s before its burst allowance was
        # spent: 65 attempts in flight met the first 429s (2.2 % of a 1,000-call snapshot).
        if not stored:
            self.slow_start_until = SLOW_START_CEILING
        elif limit_known:
            self.slow_start_until = self.start_rps
        else:
            self.slow_start_until = max(SLOW_START_CEILING, UNKNOWN_HEADROOM * self.start_rps)
        self.limit_known = bool(stored and limit_known)
        self._step = additive_step
        self.max_concurrency = int(max_concurrency)
        self._clock = clock
        self._sleep = sleep
        self.attempts = 0  # attempts that got an answer or failed on the wire
        self.throttled = 0  # of which 429
        self.cuts = 0
        self.limit_estimate: float | None = None  # the latest measured limit
        self.latency_s: float | None = None
        self.peak_in_flight = 0
        self._first_sent: float | None = None  # for the average admitted rate (settled_rps)
        self._last_answer = -math.inf
        self._admitted = 0
        # The window being measured.
        self._window = 0
        self._window_started = clock()
        self._window_ok = 0
        self._window_throttled = 0
        self._window_sent = 0
        self._after_first_429 = 0
        self._ok_after_first_429 = 0
        # Pacing: the earliest time the next attempt may go; one waiter at a time sleeps on it (FIFO lock).
        self._next = -math.inf
        self._pace = asyncio.Lock()
        # Concurrency: attempts holding a ticket, and the callers waiting for one (FIFO).
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    # ------------------------------------------------------------------ what callers use

    @property
    def concurrency(self) -> int:
        """How many attempts may be in flight now: rate x latency x headroom (Little's law), within bounds."""
        if self.latency_s is None:
            return self.max_concurrency  # not measured yet: the pace alone holds the load
        want = math.ceil(self.rate * self.latency_s * HEADROOM)
        return max(min(MIN_CONCURRENCY, self.max_concurrency), min(self.max_concurrency, want))

    @property
    def settled_rps(self) -> float:
        """The rate to start the next snapshot from: the current one, but never above what the last 429s
        measured (the sawtooth may end above the limit, on a bucket not yet empty). With no 429 met, never
        above what the gateway admitted on average over the run (at least `SETTLE_SPAN_S` of it): the pace may
        have grown past the limit on the gateway's burst allowance, which a run of a few seconds never spends."""
        if self.limit_estimate is not None:
            return min(self.rate, MARGIN * self.limit_estimate)
        if self._first_sent is not None and self._last_answer - self._first_sent >= SETTLE_SPAN_S:
            admitted = self._admitted / (self._last_answer - self._first_sent)
            return min(self.rate, max(admitted, self.start_rps))
        return self.rate

    async def acquire(self) -> Ticket:
        await self._enter()
        try:
            async with self._pace:
                while True:
                    now = self._clock()
                    wait = self._next - now
                    if wait <= 0:
                        break
                    await self._sleep(wait)  # the slot may have moved meanwhile (a cut, a Retry-After): look again
                interval = 1.0 / self.rate
                # A slot not taken while idle is not saved up beyond a twentieth of a second's worth.
                self._next = max(self._next, now - max(0.0, math.floor(self.rate / 20) - 1) * interval) + interval
                self._window_sent += 1
                if self._first_sent is None:
                    self._first_sent = now
                return Ticket(self._window, self.rate)
        except BaseException:
            self._leave()
            raise

    def done(self, ticket: Ticket, status: int | None, latency_s: float | None = None,
             retry_after_s: float | None = None, *, sent: bool = True) -> None:
        """The attempt's outcome: its HTTP status (None: no answer) and how long it took on the wire;
        `sent=False`: the ticket was not used (the call gave up before sending)."""
        self._leave()
        if not sent:
            return
        self.attempts += 1
        if status is None:
            return
        throttled = status == 429
        self._last_answer = self._clock()
        self._admitted += not throttled
        if throttled:
            self.throttled += 1
            if retry_after_s:
                self._next = max(self._next, self._clock() + retry_after_s)
        elif latency_s is not None and status < 500:
            self.latency_s = latency_s if self.latency_s is None else (
                (1 - LATENCY_WEIGHT) * self.latency_s + LATENCY_WEIGHT * latency_s)
        if ticket.window != self._window:
            return  # sent at an older rate: already judged
        if self._window_throttled:  # after the first 429 the gateway's bucket is empty: those answers measure.
            # Not the first 429 itself: a sample that always starts with a 429 reads the share admitted low (by
            # an eighth with 8 answers: a limit of 30 req/s measured as 22).
            self._after_first_429 += 1
            self._ok_after_first_429 += not throttled
        if throttled:
            self._window_throttled += 1
        else:
            self._window_ok += 1
        seen = self._window_ok + self._window_throttled
        now = self._clock()
        paced = self._window_sent >= USED * self.rate * (now - self._window_started)
        # A window is judged when it is full, or early once a few 429s say the rate is too high: each further
        # attempt at it is one more 429. A paced window with a 429 waits for EARLY_SAMPLE answers after its first
        # one: the share admitted of fewer measures nothing (a window whose last answer is its first 429 would
        # read as a limit of zero, and the next snapshot would start from the floor).
        if self._window_throttled and paced and self._after_first_429 < EARLY_SAMPLE:
            return
        if seen < max(MIN_WINDOW, ticket.rate * WINDOW_S) and self._window_throttled < EARLY_429:
            return
        if self._window_throttled and not paced:
            # Throttled while sending less than the pace (the last calls of a run, retries, another user of the
            # key): too few attempts to measure anything; lower the pace gently.
            self.rate = max(FLOOR_RPS, MAX_CUT * ticket.rate)
            self.slow_start_until = min(self.slow_start_until, self.rate)
            self.cuts += 1
            self._next = max(self._next, now + 1.0 / self.rate)
        elif self._window_throttled:
            # Limit ~ rate sent x share admitted, the share counted from the first 429 on: before it, the
            # gateway's burst allowance was still paying.
            admitted = self._ok_after_first_429 / self._after_first_429
            sent = min(ticket.rate, self._window_sent / max(now - self._window_started, 1e-3))
            self.limit_estimate = max(FLOOR_RPS, sent * admitted)
            self.rate = max(FLOOR_RPS, MIN_CUT * ticket.rate,
                            min(MAX_CUT * ticket.rate, MARGIN * self.limit_estimate))
            self.slow_start_until = min(self.slow_start_until, self.rate)
            self.cuts += 1
            self.limit_known = True
            # The attempts already queued at the old pace go at the new one.
            self._next = max(self._next, now + 1.0 / self.rate)
        elif not paced:
            pass  # the pace was not what held the calls back (too few of them, a busy client): no evidence to go faster
        elif self.rate < self.slow_start_until:
            self.rate = min(self.slow_start_until,
                            self.rate * SLOW_START_PER_S ** max(now - self._window_started, WINDOW_S))
        else:
            # Above a limit this run measured, probe slowly; before, faster (the gateway may allow far more, or
            # the stored rate may be a low estimate: it came from a handful of answers).
            if self.limit_estimate is None:
                share = PROBE_UNKNOWN
            elif self.rate < self.limit_estimate:
                share = PROBE_KNOWN
            else:  # above what the last 429s measured: each step further is a step into the next 429s
                share = PROBE_ABOVE
            step = self._step if self._step is not None else max(1.0, share * self.rate)
            self.rate += step * max(now - self._window_started, WINDOW_S)
        self.rate = min(self.rate, self.ceiling)
        self._window += 1
        self._window_started = now
        self._window_ok = self._window_throttled = self._window_sent = 0
        self._after_first_429 = self._ok_after_first_429 = 0
        self._wake()  # a higher rate may allow more in flight

    def stats(self) -> dict:
        return {"mode": "auto", "start_rps": round(self.start_rps, 3), "settled_rps": round(self.settled_rps, 3),
                "limit_known": self.limit_known, "attempts": self.attempts, "throttled": self.throttled, "cuts": self.cuts,
                "peak_in_flight": self.peak_in_flight}

    # ------------------------------------------------------------------ concurrency

    async def _enter(self) -> None:
        if self._in_flight < self.concurrency and not self._waiters:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut  # _wake counted us in before resolving
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._leave()  # admitted, then cancelled before we could run
            else:
                try:
                    self._waiters.remove(fut)
                except ValueError:
                    pass
            raise

    def _leave(self) -> None:
        self._in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        limit = self.concurrency
        while self._waiters and self._in_flight < limit:
            fut = self._waiters.popleft()
            if fut.done():
                continue
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            fut.set_result(None)


class FixedRate:
    """`fetch.rate_limit: <number>`: the pace is that number (a token bucket) whatever the gateway answers;
    the 429s are only counted."""

    def __init__(self, rate: float, burst: int | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._bucket = TokenBucket(rate, burst, clock=clock, sleep=sleep)
        self.rate = self.start_rps = float(rate)
        self.attempts = 0
        self.throttled = 0

    @property
    def settled_rps(self) -> float:
        return self.rate

    async def acquire(self) -> Ticket:
        await self._bucket.acquire()
        return Ticket(0, self.rate)

    def done(self, ticket: Ticket, status: int | None, latency_s: float | None = None,
             retry_after_s: float | None = None, *, sent: bool = True) -> None:
        if sent:
            self.attempts += 1
        if status == 429:
            self.throttled += 1

    def stats(self) -> dict:
        return {"mode": "fixed", "start_rps": self.rate, "settled_rps": self.rate, "limit_known": False,
                "attempts": self.attempts,
                "throttled": self.throttled, "cuts": 0, "peak_in_flight": None}
