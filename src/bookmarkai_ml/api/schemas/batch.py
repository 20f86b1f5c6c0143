"""Batch submission schemas: ``BatchCreate`` in, ``BatchResult`` out (one entry per item)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from bookmarkai_ml.api.problems import Problem
from bookmarkai_ml.api.schemas.jobs import JobAccepted

#: Most items in one batch; a longer list is a 422 ``validation_error`` (``items`` too long).
MAX_ITEMS = 100

_ITEM_EXAMPLES: list[dict[str, Any]] = [
    {"share_id": "article-1", "task": "summarize", "input": {"text": "Long article text ..."}},
    {"share_id": "video-7", "task": "enrich", "input": {"media_url": "https://cdn.example/a.mp4"}},
]


class BatchCreate(BaseModel):
    """Up to 100 submissions committed in one transaction."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=cast("JsonDict", {"examples": [{"items": _ITEM_EXAMPLES}]}),
    )

    items: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description="Each item is a `JobCreate` body, as `POST /api/ml/jobs` takes. Items are "
        "validated one by one: an invalid item is answered `rejected` with its problem and "
        "does not fail the others.",
    )


class ItemStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class BatchItem(BaseModel):
    """What became of one item, at its position in the request."""

    index: int = Field(description="The item's position in `items`, from 0.")
    status: ItemStatus = Field(
        description="accepted: at least one job was created; duplicate: an identical "
        "submission exists and its job(s) are returned; rejected: see `problem`."
    )
    jobs: list[JobAccepted] = Field(
        default_factory=list, description="The job(s), as a single submission answers them."
    )
    problem: Problem | None = Field(None, description="Why a rejected item was refused.")


_RESULT_EXAMPLE = {
    "accepted": 1,
    "duplicates": 0,
    "rejected": 1,
    "items": [
        {
            "index": 0,
            "status": "accepted",
            "jobs": [
                {
                    "id": "0b5e8f0e-4f7c-4d43-9b6a-2f1f3c1e9a10",
                    "share_id": "article-1",
                    "task": "summarize",
                    "status": "queued",
                    "attempts": 0,
                    "then": [],
                    "parent_id": None,
                    "created_at": "2026-01-05T10:00:00Z",
                    "updated_at": "2026-01-05T10:00:00Z",
                    "started_at": None,
                    "finished_at": None,
                    "created": True,
                }
            ],
        },
        {
            "index": 1,
            "status": "rejected",
            "jobs": [],
            "problem": {
                "type": "urn:bookmarkai-ml:problem:unsafe_url",
                "title": "Unprocessable Entity",
                "status": 422,
                "code": "unsafe_url",
                "detail": "media_url scheme 'file' is not allowed; use http, https or s3",
            },
        },
    ],
}


class BatchResult(BaseModel):
    """The answer to a batch, item by item and in order, with the totals."""

    model_config = ConfigDict(json_schema_extra=cast("JsonDict", {"examples": [_RESULT_EXAMPLE]}))

    accepted: int
    duplicates: int
    rejected: int
    items: list[BatchItem]
