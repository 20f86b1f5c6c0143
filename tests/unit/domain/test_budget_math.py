"""Rolling-window budget math: fit, remaining, retry-after, resets-at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bookmarkai_ml.config import default_tasks
from bookmarkai_ml.domain.budgets import (
    Spend,
    Window,
    resets_at,
    retry_after,
    state,
    windows_for,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
HOUR = Window("hour", 3600, Decimal(1))


def ago(minutes: float, usd: str) -> Spend:
    return Spend(NOW - timedelta(minutes=minutes), Decimal(usd))


def test_transcription_windows_are_the_seed_budgets() -> None:
    windows = windows_for("transcribe", default_tasks())
    assert [(w.name, w.seconds, w.limit_usd) for w in windows] == [
        ("hour", 3600, Decimal(1)),
        ("day", 86400, Decimal(10)),
    ]
    assert windows_for("unknown", default_tasks()) == []


def test_only_spend_inside_the_window_counts() -> None:
    s = state(HOUR, [ago(90, "0.5"), ago(30, "0.25")], Decimal("0.25"), NOW)
    assert s.spent == Decimal("0.25")
    assert s.remaining == Decimal("0.5")
    assert s.fits(Decimal("0.5"))
    assert not s.fits(Decimal("0.51"))


def test_retry_after_is_when_enough_spend_ages_out() -> None:
    spend = [ago(50, "0.4"), ago(20, "0.4"), ago(5, "0.1")]
    # 0.9 spent; 0.3 more needs 0.2 to leave: the oldest (50 min ago) leaves in 10 min.
    assert retry_after(HOUR, spend, Decimal(0), Decimal("0.3"), NOW) == NOW + timedelta(minutes=10)
    # 0.6 more needs 0.5 to leave: the first two, so in 40 min.
    assert retry_after(HOUR, spend, Decimal(0), Decimal("0.6"), NOW) == NOW + timedelta(minutes=40)


def test_held_reservations_age_out_as_if_spent_now() -> None:
    assert retry_after(HOUR, [], Decimal("0.9"), Decimal("0.2"), NOW) == NOW + timedelta(hours=1)


def test_an_estimate_over_the_whole_limit_waits_a_window() -> None:
    assert retry_after(HOUR, [], Decimal(0), Decimal(2), NOW) == NOW + timedelta(hours=1)
    assert retry_after(HOUR, [], Decimal(0), Decimal("0.5"), NOW) == NOW


def test_resets_at_is_when_the_oldest_spend_leaves() -> None:
    assert resets_at(HOUR, [ago(90, "1"), ago(45, "0.1"), ago(5, "0.1")], NOW) == NOW + timedelta(
        minutes=15
    )
    assert resets_at(HOUR, [], NOW) is None
