"""Reprocess schemas: ``ReprocessCreate`` in, ``ReprocessAccepted`` out."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bookmarkai_ml.api.schemas.jobs import JobAccepted, JobTask, MediaInput, TextInput
from bookmarkai_ml.contracts import EmbedOptions, SummarizeOptions, TranscribeOptions


class ReprocessOptions(BaseModel):
    """New options per task; a task left out keeps its latest job's options."""

    model_config = ConfigDict(extra="forbid")

    summarize: SummarizeOptions | None = None
    transcribe: TranscribeOptions | None = None
    embed: EmbedOptions | None = None


class ReprocessCreate(BaseModel):
    """Which tasks to run again, optionally on new input and with new options."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"tasks": ["embed"], "options": {"embed": {"model": "text-embedding-3-large"}}},
                {"tasks": ["summarize"], "options": {"summarize": {"style": "bullets"}}},
                {"tasks": ["enrich"]},
            ]
        },
    )

    tasks: list[JobTask] = Field(
        min_length=1,
        max_length=3,
        description="summarize, transcribe, embed, or enrich (alone: the whole chain).",
    )
    input: TextInput | MediaInput | None = Field(
        None,
        description="Text feeds summarize and embed, a media URL feeds transcribe; a task "
        "without input here reuses the input of the share's latest job of that task.",
    )
    options: ReprocessOptions = ReprocessOptions()

    @model_validator(mode="after")
    def _enrich_alone(self) -> Self:
        if JobTask.ENRICH in self.tasks and len(self.tasks) > 1:
            raise ValueError("enrich runs every task; give it alone")
        return self


class ReprocessAccepted(BaseModel):
    """The new jobs, and the generation that keys them."""

    generation: str = Field(
        description="The reprocess generation salted into the jobs' idempotency keys: the "
        "Idempotency-Key header when sent (repeating the request returns the same jobs), "
        "else a fresh random one."
    )
    jobs: list[JobAccepted]
