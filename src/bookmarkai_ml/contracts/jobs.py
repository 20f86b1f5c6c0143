"""The public view of a job: what ``GET /api/ml/jobs/{id}`` returns and what a completion
event carries as its ``data`` (docs/messages.md, "Completion events").

Here rather than in ``api/schemas`` so the database layer can write events without
importing the API; ``api/schemas/jobs.py`` re-exports both models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bookmarkai_ml.ports import JobView


class JobError(BaseModel):
    code: str
    message: str | None = None


class JobBrief(BaseModel):
    """A job as listings show it: everything but its result (a transcript with word
    timings can be megabytes, and a page holds up to 200 jobs)."""

    id: UUID
    share_id: str
    task: str
    status: str = Field(description="queued, running, done, failed, cancelled, budget_exceeded.")
    attempts: int
    then: list[str] = Field(description="Tasks queued from this job's result when it is done.")
    parent_id: UUID | None
    error: JobError | None = None
    retry_after: datetime | None = Field(None, description="budget_exceeded: when to retry.")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, view: JobView) -> Self:
        error = (
            JobError(code=view.error_code, message=view.error_message) if view.error_code else None
        )
        return cls(
            id=view.id,
            share_id=view.share_id,
            task=view.task,
            status=view.status,
            attempts=view.attempts,
            then=view.then,
            parent_id=view.parent_id,
            error=error,
            retry_after=view.retry_after,
            created_at=view.created_at,
            updated_at=view.updated_at,
            started_at=view.started_at,
            finished_at=view.finished_at,
        )


class JobPublic(JobBrief):
    """A job as clients see it, with its result once it is done."""

    result: dict[str, Any] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
                    "share_id": "article-1",
                    "task": "summarize",
                    "status": "done",
                    "attempts": 1,
                    "then": [],
                    "parent_id": None,
                    "error": None,
                    "retry_after": None,
                    "created_at": "2026-11-30T10:15:02.123456Z",
                    "updated_at": "2026-11-30T10:15:03.900000Z",
                    "started_at": "2026-11-30T10:15:02.400000Z",
                    "finished_at": "2026-11-30T10:15:03.900000Z",
                    "result": {
                        "schema_version": 1,
                        "summary": "Quorum queues replicate every message across three nodes.",
                        "key_points": [],
                        "tags": ["quorum queues", "rabbitmq"],
                        "method": "extractive",
                        "too_short": False,
                        "model": "all-MiniLM-L6-v2",
                        "provider": "extractive",
                        "input_tokens": 0,
                        "output_tokens": 0,
                    },
                }
            ]
        }
    )

    @classmethod
    def of(cls, view: JobView) -> Self:
        brief = JobBrief.of(view)
        return cls(**dict(brief), result=view.result)
