"""Job schemas, one per direction: ``JobCreate`` in, ``JobPublic``/``JobsAccepted`` out."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bookmarkai_ml.services.jobs import JobView


class JobTask(StrEnum):
    """What to do; ``enrich`` is every step that fits the input."""

    SUMMARIZE = "summarize"
    TRANSCRIBE = "transcribe"
    EMBED = "embed"
    ENRICH = "enrich"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextInput(_In):
    text: str = Field(min_length=1, max_length=1_000_000, description="Text to process.")


class MediaInput(_In):
    media_url: str = Field(
        min_length=1, max_length=4096, description="http(s):// or s3:// URL of audio or video."
    )


class JobCreate(_In):
    """A submission. ``options`` are the task's options; for ``enrich``, keyed by task."""

    share_id: str = Field(min_length=1, max_length=200, description="The saved item's id.")
    task: JobTask
    input: TextInput | MediaInput
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="summarize: style, target_words, language, provider; transcribe: language, "
        "word_timestamps, provider; embed: model, content_kind, source_kind; enrich: "
        '{"summarize": {...}, "transcribe": {...}, "embed": {...}}.',
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"share_id": "s1", "task": "summarize", "input": {"text": "Long article ..."}},
                {
                    "share_id": "s2",
                    "task": "enrich",
                    "input": {"media_url": "https://example.com/talk.mp4"},
                },
            ]
        },
    )


class JobError(BaseModel):
    code: str
    message: str | None = None


class JobPublic(BaseModel):
    """A job as clients see it."""

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
    result: dict[str, Any] | None = None

    @classmethod
    def of(cls, view: JobView) -> JobPublic:
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
            result=view.result,
        )


class JobAccepted(JobPublic):
    created: bool = Field(description="False when an identical job already existed.")


class JobsAccepted(BaseModel):
    """The answer to a submission: one job, or the first jobs of an ``enrich`` chain."""

    jobs: list[JobAccepted]
