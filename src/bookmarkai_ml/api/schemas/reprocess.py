"""Reprocess schemas: ``ReprocessCreate`` in, ``ReprocessAccepted`` out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
        max_length=4,
        description="summarize, transcribe, embed, or enrich (the whole chain: it covers "
        "the others, which add nothing next to it). Each runs once, however often listed.",
    )
    input: TextInput | MediaInput | None = Field(
        None,
        description="Text feeds summarize and embed, a media URL feeds transcribe; a task "
        "without input here reuses the input of the share's latest job of that task.",
    )
    options: ReprocessOptions = ReprocessOptions()


class ReprocessAccepted(BaseModel):
    """The new jobs, and the generation that keys them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "generation": "key:reprocess-2026-01-05-large",
                    "jobs": [
                        {
                            "id": "6f1c2a4e-9d0b-4c55-8a7e-0b3d2f1e4c21",
                            "share_id": "video-7",
                            "task": "embed",
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
                }
            ]
        }
    )

    generation: str = Field(
        description="The reprocess generation salted into the jobs' idempotency keys: the "
        "Idempotency-Key header when sent (repeating the request returns the same jobs), "
        "else a fresh random one."
    )
    jobs: list[JobAccepted]
