"""Rolling-window budget math: fit, remaining, retry-after, resets-at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bookmarkai_ml.config import default_tasks
from bookmarkai_ml.domain.budgets import (
    MAX_WINDOW_S,
    Scope,
    Spend,
    Window,
    parse_window,
    refusal,
    resets_at,
    retry_after,
    state,
    window_name,
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


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("1d", 86400), ("30m", 1800), ("90s", 90), ("3600", 3600), (" 2H ", 7200)],
)
def test_parse_window(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "0", "0h", "-1h", "1.5h", "1w", "1 h", "367d"])
def test_parse_window_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        parse_window(text)


def test_parse_window_allows_a_year() -> None:
    assert parse_window("366d") == MAX_WINDOW_S


@pytest.mark.parametrize(
    ("seconds", "name"),
    [(3600, "hour"), (86400, "day"), (604800, "7d"), (7200, "2h"), (1800, "30m"), (90, "90s")],
)
def test_window_name(seconds: int, name: str) -> None:
    assert window_name(seconds) == name
    assert parse_window(name) == seconds


def test_refusal_is_none_when_every_scope_fits() -> None:
    platform = Scope("", [HOUR], [ago(10, "0.5")], Decimal(0))
    tenant = Scope("a", [Window("30m", 1800, Decimal("0.2"))], [ago(10, "0.1")], Decimal(0))
    assert refusal([platform, tenant], Decimal("0.1"), NOW) is None


def test_refusal_names_the_tenant_window_and_its_retry_time() -> None:
    """The tenant's own spend fills its 30-minute window; the platform hour has room."""
    platform = Scope("", [HOUR], [ago(10, "0.1")], Decimal(0))
    half_hour = Window("30m", 1800, Decimal("0.2"))
    tenant = Scope("a", [half_hour], [ago(20, "0.1"), ago(5, "0.1")], Decimal(0))
    refused = refusal([platform, tenant], Decimal("0.1"), NOW)
    assert refused is not None
    assert (refused.scope, refused.window) == ("a", half_hour)
    assert refused.retry_after == NOW + timedelta(minutes=10)  # the 20-minute-old spend leaves


def test_refusal_takes_the_window_that_frees_up_last() -> None:
    """Both refuse: the job fits only when the later of the two has room."""
    platform = Scope("", [HOUR], [ago(50, "1")], Decimal(0))  # frees at +10 min
    tenant = Scope("a", [Window("30m", 1800, Decimal("0.5"))], [ago(5, "0.5")], Decimal(0))
    refused = refusal([platform, tenant], Decimal("0.1"), NOW)
    assert refused is not None
    assert refused.scope == "a"
    assert refused.retry_after == NOW + timedelta(minutes=25)
    platform_only = refusal([platform], Decimal("0.1"), NOW)
    assert platform_only is not None
    assert (platform_only.scope, platform_only.retry_after) == ("", NOW + timedelta(minutes=10))


def test_held_reservations_of_a_scope_count_in_its_windows_only() -> None:
    tenant = Scope("a", [Window("30m", 1800, Decimal("0.5"))], [], Decimal("0.45"))
    platform = Scope("", [HOUR], [], Decimal("0.45"))
    assert refusal([platform], Decimal("0.1"), NOW) is None
    refused = refusal([platform, tenant], Decimal("0.1"), NOW)
    assert refused is not None
    assert refused.retry_after == NOW + timedelta(minutes=30)
