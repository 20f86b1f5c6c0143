"""Exponential backoff with jitter: the one delay formula for reconnects, relays and retries.

Pure: no I/O and no clock. The random source is injectable so tests are exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``initial * factor**(attempt-1)``, capped at ``maximum``, then spread by ``±jitter``.

    ``jitter=0.3`` (the reconnect jitter, a design default) spreads each delay uniformly
    over 70%..130% of its nominal value, so a fleet of clients that lost the broker at
    the same moment does not reconnect in lockstep (thundering herd).
    """

    initial: float
    maximum: float
    factor: float = 2.0
    jitter: float = 0.0

    def nominal(self, attempt: int) -> float:
        """The delay before ``attempt`` (1-based), without jitter."""
        if attempt < 1:
            return 0.0
        exponent = min(attempt - 1, 64)  # 2**64 is far past any ceiling; avoids overflow
        return float(min(self.maximum, self.initial * self.factor**exponent))

    def delay(self, attempt: int, *, rand: Callable[[], float] = random.random) -> float:
        """The jittered delay before ``attempt`` (1-based); never negative."""
        base = self.nominal(attempt)
        if self.jitter <= 0:
            return base
        spread = base * self.jitter * (2.0 * rand() - 1.0)
        return max(0.0, base + spread)
