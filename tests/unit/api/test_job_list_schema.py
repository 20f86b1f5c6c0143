"""A listing's ``JobBrief`` is the public view without the result; ``JobState`` is every
job state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bookmarkai_ml.api.schemas.job_list import JobBrief, JobState
from bookmarkai_ml.api.schemas.jobs import JobPublic
from bookmarkai_ml.db.models import JobStatus
from bookmarkai_ml.ports import JobView


def _view() -> JobView:
    now = datetime(2026, 11, 30, 10, 15, tzinfo=UTC)
    return JobView(
        id=uuid.uuid4(),
        tenant_id="t",
        share_id="video-7",
        task="summarize",
        status="failed",
        attempts=2,
        then=["embed"],
        parent_id=None,
        error_code="provider_error",
        error_message="upstream 500",
        retry_after=None,
        created_at=now,
        updated_at=now,
        started_at=now,
        finished_at=now,
        result={"summary": "a large result"},
    )


def test_a_brief_is_the_public_view_without_the_result() -> None:
    view = _view()
    brief = JobBrief.of(view).model_dump()
    public = JobPublic.of(view).model_dump()
    assert "result" not in brief
    assert public.pop("result") == {"summary": "a large result"}
    assert brief == public
    assert brief["error"] == {"code": "provider_error", "message": "upstream 500"}
    assert "tenant_id" not in brief  # never shown to clients


def test_the_state_filter_names_every_job_state() -> None:
    assert [s.value for s in JobState] == list(JobStatus.ALL)
