"""Backoff with full jitter, Retry-After parsing, and the token bucket, on fake clocks (nothing timed)."""

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from modelarts_testkit import FakeTime

from pipeline.modelarts.ratelimit import TokenBucket
from pipeline.modelarts.retry import RetryPolicy, is_retryable_status, parse_retry_after


def test_full_jitter_bounds_and_spread():
    policy = RetryPolicy(backoff_base_s=0.5, backoff_cap_s=4.0)
    rng = random.Random(1)
    for n, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0), (60, 4.0), (10_000, 4.0)]:
        samples = [policy.backoff(n, rng) for _ in range(400)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter spreads over the whole range, not only its top half (that would be "equal jitter").
        assert min(samples) < ceiling * 0.1 and max(samples) > ceiling * 0.9


def test_retry_after_is_a_floor():
    policy = RetryPolicy(backoff_base_s=0.5, backoff_cap_s=20.0)
    rng = random.Random(2)
    assert all(policy.delay(0, rng, 3.0) >= 3.0 for _ in range(100))
    assert policy.delay(0, rng, None) <= 0.5


def test_policy_validation():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(max_total_s=0)


def test_retryable_statuses():
    assert [s for s in (400, 401, 403, 404, 409, 429, 500, 501, 502, 503, 504) if is_retryable_status(s)] == [
        429, 500, 502, 503, 504
    ]


def test_parse_retry_after():
    now = datetime(2026, 11, 28, 6, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now) == 0.0
    for junk in (None, "", "soon", "-1", "nan", "inf"):
        assert parse_retry_after(junk, now) is None


def test_token_bucket_spaces_requests():
    import asyncio

    fake = FakeTime(start=100.0)
    bucket = TokenBucket(10.0, burst=3, clock=fake.clock, sleep=fake.sleep)
    starts = []

    async def go():
        for _ in range(23):
            await bucket.acquire()
            starts.append(fake.now)

    asyncio.run(go())
    assert starts[:3] == [100.0] * 3  # the burst
    gaps = [b - a for a, b in zip(starts[3:], starts[4:])]
    assert all(g == pytest.approx(0.1) for g in gaps)
    # Over the whole run: burst + rate x duration, never more.
    assert len(starts) <= 3 + 10 * (starts[-1] - starts[0]) + 1e-9


def test_token_bucket_refills_while_idle():
    fake = FakeTime(start=100.0)
    bucket = TokenBucket(10.0, burst=5, clock=fake.clock, sleep=fake.sleep)
    assert [bucket.reserve() for _ in range(5)] == [0.0] * 5
    assert bucket.reserve() == pytest.approx(0.1)
    fake.now += 10  # idle for a long time: the burst is available again, but no more than that
    assert [bucket.reserve() for _ in range(5)] == [0.0] * 5
    assert bucket.reserve() > 0


def test_token_bucket_validation():
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(5, burst=0)
    assert TokenBucket(100).burst == 10
