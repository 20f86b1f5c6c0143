"""The per-share view: ``SharePublic``, what ``GET /api/ml/shares/{share_id}`` returns.

``bookmarkai-ml show SHARE --json`` prints the same document.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from bookmarkai_ml.api.schemas.job_list import JobBrief
from bookmarkai_ml.contracts import Segment, SummaryResult, TranscriptResult
from bookmarkai_ml.contracts.results import SummaryMethod
from bookmarkai_ml.services.shares import Latest, ShareView, StoredVectors


class TranscriptPublic(BaseModel):
    """The transcript of the share's latest done transcribe job."""

    job_id: UUID
    text: str
    language: str | None = Field(description="ISO 639-1, as set or detected.")
    language_probability: float | None = Field(description="Detection score; null when set.")
    duration_s: float
    silent: bool = Field(description="No speech was found in the media.")
    segments: list[Segment]
    model: str
    provider: str

    @classmethod
    def of(cls, latest: Latest[TranscriptResult]) -> TranscriptPublic:
        r = latest.result
        return cls(
            job_id=latest.job_id,
            text=r.text,
            language=r.language,
            language_probability=r.language_probability,
            duration_s=r.duration_s,
            silent=r.silent,
            segments=list(r.segments),
            model=r.model,
            provider=r.provider,
        )


class SummaryPublic(BaseModel):
    """The summary and tags of the share's latest done summarize job."""

    job_id: UUID
    summary: str
    key_points: list[str]
    tags: list[str]
    method: SummaryMethod = Field(description="extractive, llm or llm_fallback.")
    model: str
    provider: str

    @classmethod
    def of(cls, latest: Latest[SummaryResult]) -> SummaryPublic:
        r = latest.result
        return cls(
            job_id=latest.job_id,
            summary=r.summary,
            key_points=list(r.key_points),
            tags=list(r.tags),
            method=r.method,
            model=r.model,
            provider=r.provider,
        )


class EmbeddingsPublic(BaseModel):
    """The share's vectors of one model, as stored for search."""

    model: str
    dimension: int
    chunks: int = Field(description="Stored chunks (one vector each).")
    embedded_at: datetime

    @classmethod
    def of(cls, stored: StoredVectors) -> EmbeddingsPublic:
        return cls(
            model=stored.model,
            dimension=stored.dimension,
            chunks=stored.chunks,
            embedded_at=stored.created_at,
        )


_EXAMPLE: dict[str, Any] = {
    "share_id": "video-7",
    "transcript": {
        "job_id": "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
        "text": "Welcome to the briefing. Today we cover the queue.",
        "language": "en",
        "language_probability": 0.98,
        "duration_s": 4.2,
        "silent": False,
        "segments": [
            {"start": 0.0, "end": 1.9, "text": "Welcome to the briefing.", "words": None},
            {"start": 1.9, "end": 4.2, "text": "Today we cover the queue.", "words": None},
        ],
        "model": "whisper-base",
        "provider": "local",
    },
    "summary": {
        "job_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "summary": "A briefing about the queue.",
        "key_points": ["A briefing about the queue."],
        "tags": ["briefing", "queue"],
        "method": "extractive",
        "model": "all-MiniLM-L6-v2",
        "provider": "extractive",
    },
    "embeddings": [
        {
            "model": "all-MiniLM-L6-v2",
            "dimension": 384,
            "chunks": 2,
            "embedded_at": "2026-11-30T10:15:04.400000Z",
        }
    ],
    "jobs": [
        {
            "id": "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
            "share_id": "video-7",
            "task": "transcribe",
            "status": "done",
            "attempts": 1,
            "then": ["summarize", "embed"],
            "parent_id": None,
            "error": None,
            "retry_after": None,
            "created_at": "2026-11-30T10:15:00.000000Z",
            "updated_at": "2026-11-30T10:15:02.000000Z",
            "started_at": "2026-11-30T10:15:00.500000Z",
            "finished_at": "2026-11-30T10:15:02.000000Z",
        }
    ],
    "total_usd": "0.00042000",
    "erased_at": None,
}


class SharePublic(BaseModel):
    """Everything known about one share of the caller's tenant."""

    share_id: str
    transcript: TranscriptPublic | None = Field(
        description="From the latest done transcribe job; null if none is done."
    )
    summary: SummaryPublic | None = Field(
        description="From the latest done summarize job; null if none is done."
    )
    embeddings: list[EmbeddingsPublic] = Field(
        description="Stored vectors per embedding model, most recently embedded first."
    )
    jobs: list[JobBrief] = Field(description="Every job of the share, oldest first.")
    total_usd: Decimal = Field(description="Sum of the recorded cost of the share's jobs.")
    erased_at: datetime | None = Field(
        None,
        description="When the share was erased (its jobs and costs stay, without content); "
        "jobs created later are a new submission of it.",
    )

    model_config = {"json_schema_extra": {"examples": [_EXAMPLE]}}

    @classmethod
    def of(cls, view: ShareView) -> SharePublic:
        return cls(
            share_id=view.share_id,
            transcript=TranscriptPublic.of(view.transcript) if view.transcript else None,
            summary=SummaryPublic.of(view.summary) if view.summary else None,
            embeddings=[EmbeddingsPublic.of(v) for v in view.vectors],
            jobs=[JobBrief.of(job) for job in view.jobs],
            total_usd=view.total_usd,
            erased_at=view.erased_at,
        )
