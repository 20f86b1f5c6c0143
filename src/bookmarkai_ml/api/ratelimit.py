"""Per-key token buckets: a burst is allowed, the sustained rate is capped; 429 past it.

Each API key has a bucket of ``burst`` tokens refilled at ``per_minute / 60`` tokens
per second; a request takes one. An empty bucket answers 429 with ``Retry-After``
set to the seconds until a token is back. Buckets live in this process: with N API
replicas a key gets N times the rate, which is the usual trade for no shared store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bookmarkai_ml.errors import BookmarkAIError


class RateLimitedError(BookmarkAIError):
    """The key spent its tokens; ``retry_after_s`` says when the next one is due."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class TokenBucket:
    """Pure token-bucket state; ``take`` returns 0 on success, else seconds to wait."""

    capacity: float
    rate_per_s: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_s)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s


class RateLimiter:
    """Thread-safe buckets keyed by API key id (routes run in a thread pool)."""

    def __init__(
        self,
        *,
        per_minute: int,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._per_minute = per_minute
        self._burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str, *, per_minute: int | None = None) -> None:
        """Spend one token of ``key``'s bucket (``per_minute`` overrides the default rate).

        Raises:
            RateLimitedError: the bucket is empty.
        """
        rate = (per_minute or self._per_minute) / 60.0
        capacity = float(max(1, self._burst))
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate_per_s != rate:
                if len(self._buckets) >= self._max_keys:
                    self._buckets.clear()  # bounded memory; a reset only forgives
                bucket = TokenBucket(capacity, rate, capacity, now)
                self._buckets[key] = bucket
            wait = bucket.take(now)
        if wait > 0:
            raise RateLimitedError("rate limit exceeded for this API key", retry_after_s=wait)
