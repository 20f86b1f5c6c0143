"""Search answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SearchHitPublic(BaseModel):
    """One matching item: its best chunk, and where that chunk is in the media."""

    share_id: str
    chunk_index: int
    text: str
    score: float = Field(description="Rank score: cosine similarity, or RRF when hybrid.")
    similarity: float | None = Field(description="Cosine similarity of the chunk, if ranked by it.")
    content_kind: str
    source_kind: str | None
    start_s: float | None = Field(description="Transcript chunks: start in the media, seconds.")
    end_s: float | None
    created_at: datetime


class SearchResults(BaseModel):
    hits: list[SearchHitPublic]
