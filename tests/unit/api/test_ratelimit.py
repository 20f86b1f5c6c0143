"""Token buckets on a fake clock: burst, refill, Retry-After, per-key isolation."""

from __future__ import annotations

import pytest

from bookmarkai_ml.api.ratelimit import RateLimitedError, RateLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_waits_for_refill() -> None:
    bucket = TokenBucket(capacity=3, rate_per_s=0.5, tokens=3, updated=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(2.0)  # one token per 2 s
    assert bucket.take(1.0) == pytest.approx(1.0)
    assert bucket.take(2.0) == 0.0


def test_bucket_never_exceeds_capacity() -> None:
    bucket = TokenBucket(capacity=2, rate_per_s=1.0, tokens=0, updated=0.0)
    bucket.take(1000.0)
    assert bucket.tokens == pytest.approx(1.0)


def test_limiter_raises_with_retry_after_per_key() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimitedError) as err:
        limiter.check("a")
    assert err.value.retry_after_s == pytest.approx(1.0)
    assert err.value.code == "rate_limited"
    limiter.check("b")  # another key has its own bucket
    clock.now += 1.0
    limiter.check("a")


def test_per_key_rate_overrides_the_default() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock)
    limiter.check("slow", per_minute=6)
    with pytest.raises(RateLimitedError) as err:
        limiter.check("slow", per_minute=6)
    assert err.value.retry_after_s == pytest.approx(10.0)
