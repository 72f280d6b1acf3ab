"""Fault injection: random faults at configured rates, and scripted faults for the next N matching requests.

Random decisions come from one seeded RNG that draws the same number of values for every request, so a
client sending the same requests in the same order meets the same faults on every run, whichever flags
are on. The rate limiter alone depends on wall time: it is a token bucket per credential.
"""

import math
import random
import threading
import time
from dataclasses import dataclass, field, replace

FAULT_KINDS = ("throttle", "error", "stall", "reset", "truncate", "forbidden", "not_found", "empty_listing",
               "partial_listing")
# The listing glitches: a 200 pool listing that leaves out pools which still exist (ShowPool still finds them).
LISTING_GLITCHES = ("empty_listing", "partial_listing")


@dataclass(frozen=True)
class Faults:
    latency_ms: float = 0.0  # added to every answered request
    jitter_ms: float = 0.0  # uniform +- around latency_ms
    rate_limit: float = 0.0  # requests per second per credential; 0 = unlimited
    retry_after_s: float | None = None  # Retry-After on 429s; off by default as APIG's use is unverified
    error_rate: float = 0.0  # share of requests answered 500/502/503
    stall_rate: float = 0.0  # share of requests held for stall_s before they are answered
    stall_s: float = 30.0
    reset_rate: float = 0.0  # share of requests whose connection is reset without an answer
    truncate_rate: float = 0.0  # share of 200s whose body is cut in half (Content-Length still consistent)
    forbidden_projects: int = 0  # the last N projects always answer 403 APIGW.0302
    # share of pool listings answered 200 with pools left out although they exist: half of those glitches
    # list nothing ({"items": []}), half every other pool
    listing_glitch_rate: float = 0.0
    throttle_burst: tuple[int, int] | None = None  # (period, length): requests k*period .. +length-1 get 429
    seed: int | None = None  # defaults to the simulator's seed

    def __post_init__(self):
        for name in ("error_rate", "stall_rate", "reset_rate", "truncate_rate", "listing_glitch_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.throttle_burst is not None:
            period, length = self.throttle_burst
            if period <= 0 or not 0 <= length <= period:
                raise ValueError("throttle_burst is (period, length) with 0 <= length <= period, period > 0")


@dataclass
class Injection:
    kind: str
    remaining: int
    project_id: str | None = None
    path_contains: str | None = None
    retry_after_s: float | None = None
    status: int | None = None

    def matches(self, path: str, project_id: str | None) -> bool:
        if self.project_id is not None and self.project_id != project_id:
            return False
        return self.path_contains is None or self.path_contains in path


@dataclass(frozen=True)
class Decision:
    fault: str | None = None  # one of FAULT_KINDS, or None
    status: int | None = None  # for "error"
    retry_after_s: float | None = None  # for "throttle": the Retry-After header to send, if any
    limit: int = 0  # for "throttle": the limit quoted in the message
    delay_s: float = 0.0  # latency (+ stall) before the answer goes out


@dataclass
class _Bucket:
    tokens: float
    stamp: float = field(default_factory=time.monotonic)


class FaultEngine:
    def __init__(self, faults: Faults, seed: int):
        self.faults = faults
        self._rng = random.Random(f"faults:{faults.seed if faults.seed is not None else seed}")
        self._lock = threading.Lock()
        self._injections: list[Injection] = []
        self._buckets: dict[str, _Bucket] = {}
        self._counter = 0

    def inject(self, kind: str, count: int = 1, project_id: str | None = None, path_contains: str | None = None,
               retry_after_s: float | None = None, status: int | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if kind == "error" and status is not None and status not in (500, 502, 503, 504):
            raise ValueError("an injected error has status 500, 502, 503 or 504")
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._injections.append(Injection(kind, count, project_id, path_contains, retry_after_s, status))

    def set_rate_limit(self, rate_limit: float) -> None:
        """Change the per-credential throttle while serving (a gateway whose limit drops mid-snapshot, another
        tenant of the access key); the buckets keep their tokens, capped at the new second's worth."""
        if not (rate_limit >= 0 and math.isfinite(rate_limit)):
            raise ValueError("rate_limit must be a number >= 0")
        with self._lock:
            self.faults = replace(self.faults, rate_limit=float(rate_limit))
            for bucket in self._buckets.values():
                bucket.tokens = min(bucket.tokens, max(1.0, rate_limit))

    def pending(self) -> int:
        with self._lock:
            return sum(i.remaining for i in self._injections)

    def decide(self, path: str, project_id: str | None, credential: str | None) -> Decision:
        f = self.faults
        with self._lock:
            u_reset, u_stall, u_error, u_truncate, u_status, u_jitter = (self._rng.random() for _ in range(6))
            index = self._counter
            self._counter += 1
            delay = max(0.0, f.latency_ms + (2 * u_jitter - 1) * f.jitter_ms) / 1000.0
            scripted = self._take_injection(path, project_id)
            if scripted is not None:
                return self._scripted(scripted, delay)
            if f.throttle_burst is not None:
                period, length = f.throttle_burst
                if index % period < length:
                    return self._throttle(f.retry_after_s, self._limit(), delay)
            if f.rate_limit > 0 and credential is not None and not self._admit(credential):
                return self._throttle(f.retry_after_s, self._limit(), delay)
            if u_reset < f.reset_rate:
                return Decision("reset")
            if u_stall < f.stall_rate:
                return Decision("stall", delay_s=delay + f.stall_s)
            if u_error < f.error_rate:
                return Decision("error", status=(500, 502, 503)[int(u_status * 3)], delay_s=delay)
            if u_truncate < f.truncate_rate:
                return Decision("truncate", delay_s=delay)
            if f.listing_glitch_rate > 0 and _is_listing(path):
                # Drawn only when the fault is on, so that every other fault meets the same draws as before.
                u_glitch = self._rng.random()
                if u_glitch < f.listing_glitch_rate:
                    kind = LISTING_GLITCHES[int(2 * u_glitch / f.listing_glitch_rate) % 2]
                    return Decision(kind, delay_s=delay)
            return Decision(delay_s=delay)

    def _take_injection(self, path: str, project_id: str | None) -> Injection | None:
        for injection in self._injections:
            if injection.remaining > 0 and injection.matches(path, project_id):
                injection.remaining -= 1
                if injection.remaining == 0:
                    self._injections.remove(injection)
                return injection
        return None

    def _scripted(self, inj: Injection, delay: float) -> Decision:
        if inj.kind == "throttle":
            retry = inj.retry_after_s if inj.retry_after_s is not None else self.faults.retry_after_s
            return self._throttle(retry, self._limit(), delay)
        if inj.kind == "stall":
            return Decision("stall", delay_s=delay + self.faults.stall_s)
        if inj.kind == "error":
            return Decision("error", status=inj.status or 500, delay_s=delay)
        if inj.kind == "reset":
            return Decision("reset")
        return Decision(inj.kind, delay_s=delay)

    def _limit(self) -> int:
        # The limit quoted in the 429 message: the configured one, else APIG's default of 200 req/s.
        return max(1, int(self.faults.rate_limit)) if self.faults.rate_limit > 0 else 200

    @staticmethod
    def _throttle(retry_after_s: float | None, limit: int, delay: float) -> Decision:
        # Retry-After is whole seconds on the wire (urllib3 rejects fractions), so round up.
        retry = float(math.ceil(retry_after_s)) if retry_after_s is not None else None
        return Decision("throttle", retry_after_s=retry, limit=limit, delay_s=delay)

    def _admit(self, credential: str) -> bool:
        rate = self.faults.rate_limit
        capacity = max(1.0, rate)  # a burst of one second's worth, as APIG's per-second policy allows
        now = time.monotonic()
        bucket = self._buckets.get(credential)
        if bucket is None:
            bucket = self._buckets[credential] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False


def _is_listing(path: str) -> bool:
    parts = path.rstrip("/").split("/")
    return len(parts) == 4 and parts[1] == "v2" and parts[3] == "pools"
