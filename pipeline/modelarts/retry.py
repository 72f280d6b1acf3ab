"""Retry policy: what is retried, how long to wait, and when to give up.

- Retried: 429, 500/502/503/504, transport faults (timeouts, refused/reset connections, protocol errors)
  and a success status whose JSON body does not parse (a truncated response).
- Not retried: 400/401/403/404 and other 4xx, 501 and other 5xx, TLS verification failures. Repeating them
  would give the same answer and, for 401, count towards the gateway's AK lock-out (5 failures -> 5 min).
- Wait: exponential backoff with full jitter, uniform(0, min(cap, base * 2**n)) for the n-th retry (n from 0),
  which spreads a thundering herd best for the fewest total calls (AWS architecture blog, "Exponential Backoff
  And Jitter"). A Retry-After header is a floor: we never come back sooner than the server asked.
- Give up: after `max_attempts` attempts, or when the next sleep would end past `max_total_s` since the first
  attempt started. The last error is raised with its attempt count. A 429 is not counted towards
  `max_attempts` (it is the gateway's word about the pace, not about the call; its retries back off on their
  own count): only `max_total_s` ends a call that is throttled again and again.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    max_total_s: float = 120.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.max_total_s > 0:
            raise ValueError("max_total_s must be positive")
        if self.backoff_base_s < 0 or self.backoff_cap_s < 0:
            raise ValueError("backoff base and cap must not be negative")

    def backoff(self, retry_index: int, rng: random.Random) -> float:
        """Full-jitter delay before retry number `retry_index` (0 for the first retry)."""
        # min() before the power would overflow for absurd indexes; 2**64 * base is beyond any cap anyway.
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** min(retry_index, 64))
        return rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0

    def delay(self, retry_index: int, rng: random.Random, retry_after_s: float | None) -> float:
        jitter = self.backoff(retry_index, rng)
        return max(jitter, retry_after_s) if retry_after_s is not None else jitter


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3).

    Returns None when absent or unreadable (then only the backoff applies); a date in the past gives 0.
    Fractional seconds are accepted although the RFC says integer: rounding them down could make us early.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT; parsedate gives a naive value for "-0000"
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())
