"""Task results, stored as JSON in ``ml_results.result`` and returned by the API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bookmarkai_ml.contracts.messages import SCHEMA_VERSION


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: int = SCHEMA_VERSION


class Word(BaseModel):
    model_config = ConfigDict(frozen=True)
    start: float
    end: float
    word: str
    probability: float | None = None


class Segment(BaseModel):
    model_config = ConfigDict(frozen=True)
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str
    words: list[Word] | None = None


class TranscriptResult(_Result):
    text: str
    language: str | None = Field(None, description="ISO 639-1, as set or detected.")
    language_probability: float | None = Field(None, ge=0, le=1, description="Detection score.")
    duration_s: float = Field(ge=0)
    segments: list[Segment] = Field(default_factory=list)
    silent: bool = False
    chunks: int = 1
    model: str
    provider: str


#: ``llm_fallback``: the model's answer failed validation or the faithfulness guard twice,
#: so the extractive summarizer answered instead.
SummaryMethod = Literal["extractive", "llm", "llm_fallback"]


class SummaryResult(_Result):
    summary: str
    key_points: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    method: SummaryMethod = Field("extractive", description="How the summary was made.")
    too_short: bool = Field(False, description="Two sentences or fewer: the lead sentence.")
    model: str
    provider: str
    input_tokens: int = 0
    output_tokens: int = 0


class EmbedResult(_Result):
    model: str
    dimension: int
    chunks: int
    tokens: int
    provider: str
