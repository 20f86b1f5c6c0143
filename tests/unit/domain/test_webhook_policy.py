"""Webhook retry and disable decisions, and the signed headers a receiver verifies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bookmarkai_ml.config import WebhookSettings
from bookmarkai_ml.domain.webhook_policy import disable_reason, is_success, next_delay
from bookmarkai_ml.services.webhooks import new_secret
from bookmarkai_ml.webhooks.sender import signed_headers


def test_the_default_schedule_is_the_standard_one_and_lasts_over_a_day() -> None:
    schedule = WebhookSettings().retry_schedule_s
    assert schedule == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    assert sum(schedule) >= 24 * 3600


@pytest.mark.parametrize("schedule", [[], [5.0, 10.0], [0.0, -1.0]])
def test_a_schedule_starts_with_the_immediate_attempt(schedule: list[float]) -> None:
    with pytest.raises(ValidationError):
        WebhookSettings(retry_schedule_s=schedule)


def test_next_delay_walks_the_schedule_then_stops() -> None:
    schedule = [0.0, 5.0, 300.0]
    assert [next_delay(schedule, n) for n in (1, 2, 3)] == [5.0, 300.0, None]


@pytest.mark.parametrize(("code", "ok"), [(200, True), (204, True), (301, False), (500, False)])
def test_only_2xx_delivers(code: int, ok: bool) -> None:
    assert is_success(code) is ok
    assert is_success(None) is False


def test_disable_after_consecutive_failed_deliveries() -> None:
    kw = {"failing_for_s": 10.0, "max_failing_s": 0.0}
    assert disable_reason(consecutive_failed=4, max_failed=5, **kw) is None
    reason = disable_reason(consecutive_failed=5, max_failed=5, **kw)
    assert reason == "5 consecutive deliveries failed every attempt"
    assert disable_reason(consecutive_failed=99, max_failed=0, **kw) is None  # 0 = off


def test_disable_after_failing_for_too_long() -> None:
    kw = {"consecutive_failed": 0, "max_failed": 5}
    assert disable_reason(failing_for_s=3599.0, max_failing_s=3600.0, **kw) is None
    assert disable_reason(failing_for_s=None, max_failing_s=3600.0, **kw) is None
    reason = disable_reason(failing_for_s=7200.0, max_failing_s=3600.0, **kw)
    assert reason == "every attempt failed for 2.0 h"


def test_signed_headers_verify_with_standardwebhooks() -> None:
    secret = new_secret()
    body = '{"id":"e1","type":"ai.bookmarkai.ml.job.done","data":{"x":"é"}}'
    headers = signed_headers(secret=secret, msg_id="e1", body=body, now=datetime.now(UTC))
    assert headers["webhook-id"] == "e1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers)["data"] == {"x": "é"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("é", "e"), headers)
