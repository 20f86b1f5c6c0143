"""The verdict on a failed run: every branch, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.domain.verdict import (
    MAX_ERROR_CHARS,
    Disposition,
    LeaseLostError,
    RetryPolicy,
    verdict_for,
)
from bookmarkai_ml.errors import (
    BudgetExceededError,
    DatabaseUnavailableError,
    MediaError,
    ProviderUnavailableError,
)

POLICY = RetryPolicy(max_retries=2, delivery_limit=3, backoff=Backoff(initial=1.0, maximum=8.0))


def judge(exc: BaseException, *, attempts: int = 1, delivery_count: int = 0):  # type: ignore[no-untyped-def]
    return verdict_for(
        exc,
        task="transcribe",
        attempts=attempts,
        delivery_count=delivery_count,
        policy=POLICY,
        time_limit_errors=(SoftTimeLimitExceeded,),
    )


def test_a_permanent_error_fails_the_job_with_its_code() -> None:
    verdict = judge(MediaError("no audio stream", code="no_audio"))
    assert verdict.disposition is Disposition.FAILED
    assert verdict.ending is not None
    assert (verdict.ending.status, verdict.ending.code) == ("failed", "no_audio")
    assert verdict.ending.requeue_after_s is None
    assert verdict.reason == "no_audio: no audio stream"


def test_a_retryable_error_requeues_with_backoff_then_gives_up() -> None:
    first = judge(ProviderUnavailableError("503"), attempts=1)
    assert first.disposition is Disposition.RETRIED
    assert first.ending is not None
    assert (first.ending.status, first.ending.requeue_after_s) == ("queued", 1.0)
    assert judge(ProviderUnavailableError("503"), attempts=2).ending.requeue_after_s == 2.0  # type: ignore[union-attr]
    last = judge(ProviderUnavailableError("503"), attempts=3)
    assert last.disposition is Disposition.FAILED
    assert last.ending is not None
    assert last.ending.status == "failed"
    assert last.ending.message.startswith("gave up after 3 attempts")


def test_a_retry_honours_the_errors_own_delay() -> None:
    verdict = judge(ProviderUnavailableError("429", retry_after_s=7.5))
    assert verdict.ending is not None
    assert verdict.ending.requeue_after_s == 7.5


def test_a_full_budget_ends_budget_exceeded_with_retry_after() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    verdict = judge(BudgetExceededError("hourly budget full", retry_after=when))
    assert verdict.disposition is Disposition.BUDGET_EXCEEDED
    assert verdict.ending is not None
    assert (verdict.ending.status, verdict.ending.retry_after) == ("budget_exceeded", when)


def test_the_soft_time_limit_fails_at_once() -> None:
    verdict = judge(SoftTimeLimitExceeded(), attempts=1)
    assert verdict.disposition is Disposition.FAILED
    assert verdict.ending is not None
    assert verdict.ending.code == "time_limit"


def test_a_lost_lease_leaves_the_job_alone() -> None:
    verdict = judge(LeaseLostError("taken over"))
    assert verdict.disposition is Disposition.SKIPPED
    assert verdict.ending is None


@pytest.mark.parametrize(("delivery_count", "expected"), [(0, "requeue"), (1, "requeue")])
def test_a_crash_is_redelivered_before_the_limit(delivery_count: int, expected: str) -> None:
    verdict = judge(ValueError("boom"), delivery_count=delivery_count)
    assert verdict.disposition == expected
    assert verdict.ending is not None
    assert (verdict.ending.status, verdict.ending.code) == ("queued", "crashed")
    assert verdict.ending.requeue_after_s is None  # the broker redelivers, no outbox row


def test_a_crash_on_the_last_delivery_is_dead_lettered_and_failed() -> None:
    verdict = judge(ValueError("boom"), delivery_count=2)
    assert verdict.disposition is Disposition.DEAD_LETTER
    assert verdict.ending is not None
    assert (verdict.ending.status, verdict.ending.code) == ("failed", "poison_message")
    assert verdict.reason == "ValueError: boom"


def test_a_database_outage_in_the_handler_is_retried_not_crashed() -> None:
    verdict = judge(DatabaseUnavailableError("ledger down"))
    assert verdict.disposition is Disposition.RETRIED


def test_long_messages_are_cut_to_fit_the_job_row() -> None:
    verdict = judge(MediaError("x" * (MAX_ERROR_CHARS + 50)))
    assert verdict.ending is not None
    assert len(verdict.ending.message) == MAX_ERROR_CHARS
