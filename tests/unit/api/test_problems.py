"""The error tree maps to stable HTTP statuses and problem documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bookmarkai_ml import errors
from bookmarkai_ml.api.problems import MEDIA_TYPE, problem, status_of
from bookmarkai_ml.api.ratelimit import RateLimitedError


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.AuthError("x"), 401),
        (errors.NotFoundError("x"), 404),
        (errors.ConflictError("x"), 409),
        (errors.UnsafeURLError("x"), 422),
        (errors.MediaError("x"), 422),
        (errors.BudgetExceededError("x", retry_after=datetime.now(UTC)), 429),
        (RateLimitedError("x", retry_after_s=1), 429),
        (errors.DatabaseUnavailableError("x"), 503),
        (errors.BrokerUnavailableError("x"), 503),
        (errors.ConfigurationError("x", code="not_configured"), 503),
        (errors.BookmarkAIError("x"), 500),
    ],
)
def test_status_of(exc: errors.BookmarkAIError, status: int) -> None:
    assert status_of(exc) == status


def test_problem_document_and_retry_after() -> None:
    resp = problem(
        429, "rate_limited", detail="slow down", instance="/api/ml/jobs", retry_after_s=0.2
    )
    assert resp.media_type == MEDIA_TYPE
    assert resp.headers["retry-after"] == "1"  # rounded up, never 0
    body = json.loads(bytes(resp.body))
    assert body == {
        "type": "urn:bookmarkai-ml:problem:rate_limited",
        "title": "Too Many Requests",
        "status": 429,
        "code": "rate_limited",
        "detail": "slow down",
        "instance": "/api/ml/jobs",
        "retry_after_s": 1,
    }


def test_openai_routes_also_get_an_error_member() -> None:
    body = json.loads(
        bytes(problem(404, "model_not_found", detail="no", instance="/v1/embeddings").body)
    )
    assert body["error"] == {"message": "no", "type": "model_not_found", "code": "model_not_found"}


def test_budget_retry_after_is_in_the_future() -> None:
    exc = errors.BudgetExceededError("full", retry_after=datetime.now(UTC) + timedelta(seconds=90))
    assert status_of(exc) == 429
