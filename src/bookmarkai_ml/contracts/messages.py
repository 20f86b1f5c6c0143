"""Task messages: the keyword arguments of each Celery task, as frozen pydantic models.

A message is the ``kwargs`` of a Celery protocol-v2 body (see ``docs/messages.md``).
Every message carries ``schema_version``; a worker refuses versions it does not know.
``job_id`` is optional: a producer that has no job row (the original design's Node.js
gateway published straight to the queue) leaves it out, and the worker creates the job on
first delivery under the same idempotency key.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1

ShareId = Annotated[str, Field(min_length=1, max_length=200)]


class TaskType(StrEnum):
    SUMMARIZE = "summarize"
    TRANSCRIBE = "transcribe"
    EMBED = "embed"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _json_integer(value: object) -> object:
    """An integer as JSON Schema means it (1851.0 counts), never a string or a bool."""
    if isinstance(value, (str, bool)):
        raise ValueError("expected an integer")
    return value


class _Options(_Frozen):
    """Options are strict: ``0`` is not ``false`` and ``"120"`` is not 120, as the
    JSON Schema says; a producer that sends them has a bug it should hear about."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class SummarizeOptions(_Options):
    style: Literal["brief", "detailed", "bullets"] = "brief"
    # JSON Schema counts 1851.0 as an integer; strict mode would not.
    target_words: Annotated[int, BeforeValidator(_json_integer)] = Field(
        120, ge=10, le=2000, strict=False
    )
    language: str | None = Field(None, max_length=16)
    provider: Literal["extractive", "openai", "local_llm", "llamacpp"] | None = Field(
        None, description="Summarizer; None = configured. llamacpp: deprecated alias of local_llm."
    )


VocabularyTerm = Annotated[str, Field(min_length=1, max_length=100)]


class TranscribeOptions(_Options):
    language: str | None = Field(None, max_length=16, description="ISO 639-1; None = detected.")
    word_timestamps: bool = False
    vocabulary: list[VocabularyTerm] = Field(
        default_factory=list, max_length=50, description="Names and jargon the speech contains."
    )
    provider: Literal["local", "openai"] | None = None


class EmbedOptions(_Options):
    model: str | None = Field(None, max_length=100, description="Model name; None = selected.")
    content_kind: Literal["text", "transcript", "caption"] = "text"
    source_kind: str | None = Field(None, max_length=40, description="video, podcast, post, web.")


class TranscriptSegmentIn(_Frozen):
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str


class TaskMessage(_Frozen):
    """Fields every task message shares."""

    schema_version: Literal[1] = SCHEMA_VERSION
    share_id: ShareId
    job_id: UUID | None = None
    tenant_id: str = Field("default", min_length=1, max_length=100)


class SummarizeTask(TaskMessage):
    task: Literal[TaskType.SUMMARIZE] = TaskType.SUMMARIZE
    content: str = Field(min_length=1)
    options: SummarizeOptions = SummarizeOptions()


class TranscribeTask(TaskMessage):
    task: Literal[TaskType.TRANSCRIBE] = TaskType.TRANSCRIBE
    media_url: str = Field(min_length=1, max_length=4096)
    options: TranscribeOptions = TranscribeOptions()


class EmbedTask(TaskMessage):
    task: Literal[TaskType.EMBED] = TaskType.EMBED
    content: str = Field("", description="Text to embed; may be empty when segments are given.")
    segments: list[TranscriptSegmentIn] | None = None
    options: EmbedOptions = EmbedOptions()


TaskMessageT = SummarizeTask | TranscribeTask | EmbedTask
