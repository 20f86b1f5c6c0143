"""Job listing schemas: ``JobPage`` of ``JobBrief`` (a job without its result).

A listing leaves results out on purpose: a transcript with word timings can be
megabytes, and a page holds up to 200 jobs. ``GET /api/ml/jobs/{id}`` and
``GET /api/ml/shares/{share_id}`` return results.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field

from bookmarkai_ml.api.schemas.params import IsoDateTime
from bookmarkai_ml.contracts.jobs import JobBrief
from bookmarkai_ml.db.jobs.listing import DEFAULT_LIMIT, MAX_LIMIT
from bookmarkai_ml.db.models import JobStatus
from bookmarkai_ml.domain import keyset
from bookmarkai_ml.services.jobs import JobPage as Page

__all__ = [
    "DEFAULT_LIMIT",
    "CursorQuery",
    "JobBrief",
    "JobPage",
    "JobState",
    "LimitQuery",
    "ShareIdQuery",
    "SinceQuery",
]

ShareIdQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=200, pattern=r"^[^\x00]*$", description="Only this share."),
]
SinceQuery = Annotated[
    IsoDateTime | None,
    Query(description="Only jobs created at or after this time (UTC if naive)."),
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Jobs per page.")]
CursorQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=keyset.MAX_TOKEN_CHARS,
        description="`next_cursor` of the previous page, unchanged; omit for the first page.",
    ),
]


class JobState(StrEnum):
    """A job state, as a query filter (the values of ``db.models.JobStatus``)."""

    QUEUED = JobStatus.QUEUED
    RUNNING = JobStatus.RUNNING
    DONE = JobStatus.DONE
    FAILED = JobStatus.FAILED
    CANCELLED = JobStatus.CANCELLED
    BUDGET_EXCEEDED = JobStatus.BUDGET_EXCEEDED


class JobPage(BaseModel):
    """One page of a listing, newest first."""

    jobs: list[JobBrief]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page. Opaque."
    )

    @classmethod
    def of(cls, page: Page) -> JobPage:
        cursor = page.next_cursor
        return cls(
            jobs=[JobBrief.of(view) for view in page.jobs],
            next_cursor=cursor.encode() if cursor is not None else None,
        )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "jobs": [
                        {
                            "id": "0b7e6f2a-4c1d-4e8f-9a3b-2d5c6e7f8a9b",
                            "share_id": "video-7",
                            "task": "embed",
                            "status": "done",
                            "attempts": 1,
                            "then": [],
                            "parent_id": "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
                            "error": None,
                            "retry_after": None,
                            "created_at": "2026-11-30T10:15:02.123456Z",
                            "updated_at": "2026-11-30T10:15:04.500000Z",
                            "started_at": "2026-11-30T10:15:03.000000Z",
                            "finished_at": "2026-11-30T10:15:04.500000Z",
                        }
                    ],
                    "next_cursor": (
                        "djF8MjAyNi0xMS0zMFQxMDoxNTowMi4xMjM0NTYrMDA6MDB8"
                        "MGI3ZTZmMmEtNGMxZC00ZThmLTlhM2ItMmQ1YzZlN2Y4YTli"
                    ),
                }
            ]
        }
    }
