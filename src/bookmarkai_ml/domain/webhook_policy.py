"""Webhook retry and disable decisions: pure functions over the settings' numbers.

The schedule follows the Standard Webhooks recommendation (immediately, then 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 10 h; https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#retry-schedule):
one entry per attempt, each the delay after the previous attempt failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


def is_success(status_code: int | None) -> bool:
    """A 2xx answer delivers; anything else (3xx included: redirects are not followed) fails."""
    return status_code is not None and 200 <= status_code < 300


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """One POST to an endpoint: its answer's status, or why there was none."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return is_success(self.status_code)


def next_delay(schedule: Sequence[float], attempts_made: int) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` failed ones; None when the
    schedule is exhausted (the delivery is failed)."""
    return float(schedule[attempts_made]) if attempts_made < len(schedule) else None


def disable_reason(
    *,
    consecutive_failed: int,
    failing_for_s: float | None,
    max_failed: int,
    max_failing_s: float,
) -> str | None:
    """Why an endpoint should be disabled, or None to keep it.

    ``consecutive_failed``: deliveries that exhausted the schedule since the last one
    delivered; ``failing_for_s``: time since the first failed attempt after the last
    successful one (None when the latest attempt succeeded). A limit of 0 is off.
    """
    if max_failed and consecutive_failed >= max_failed:
        return f"{consecutive_failed} consecutive deliveries failed every attempt"
    if max_failing_s and failing_for_s is not None and failing_for_s >= max_failing_s:
        return f"every attempt failed for {failing_for_s / 3600:.1f} h"
    return None
