"""Job schemas, one per direction: ``JobCreate`` in, ``JobPublic``/``JobsAccepted`` out."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from bookmarkai_ml.api.schemas.examples import examples_of
from bookmarkai_ml.contracts import EmbedOptions, SummarizeOptions, TranscribeOptions
from bookmarkai_ml.contracts.jobs import JobError as JobError  # re-exported
from bookmarkai_ml.contracts.jobs import JobPublic as JobPublic  # re-exported
from bookmarkai_ml.ports import Submission


class JobTask(StrEnum):
    """What to do; ``enrich`` is every step that fits the input."""

    SUMMARIZE = "summarize"
    TRANSCRIBE = "transcribe"
    EMBED = "embed"
    ENRICH = "enrich"


#: Postgres text cannot hold NUL; refusing it here keeps a schema-valid request storable.
_NO_NUL = r"^[^\x00]*$"
#: Documented in the schema; enforced by ``submission.check_media_url`` (code ``unsafe_url``).
MEDIA_URL_PATTERN = (
    r"^\s*([Hh][Tt][Tt][Pp][Ss]?|[Ss]3)://[A-Za-z0-9._~:@!$&'()*+,;=%-]+([/?#][^\x00]*)?$"
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextInput(_In):
    text: str = Field(
        min_length=1, max_length=1_000_000, pattern=_NO_NUL, description="Text to process."
    )


class MediaInput(_In):
    media_url: str = Field(
        min_length=1,
        max_length=4096,
        description="http(s):// or s3:// URL of audio or video; other schemes get 422.",
        json_schema_extra={"pattern": MEDIA_URL_PATTERN},
    )


ShareId = Annotated[
    str, Field(min_length=1, max_length=200, pattern=_NO_NUL, description="The saved item's id.")
]


class EnrichOptions(_In):
    """Options of each step of an ``enrich`` chain."""

    summarize: SummarizeOptions = SummarizeOptions()
    transcribe: TranscribeOptions = TranscribeOptions()
    embed: EmbedOptions = EmbedOptions()


class SummarizeJob(_In):
    share_id: ShareId
    task: Literal[JobTask.SUMMARIZE]
    input: TextInput
    options: SummarizeOptions = SummarizeOptions()


class TranscribeJob(_In):
    share_id: ShareId
    task: Literal[JobTask.TRANSCRIBE]
    input: MediaInput
    options: TranscribeOptions = TranscribeOptions()


class EmbedJob(_In):
    share_id: ShareId
    task: Literal[JobTask.EMBED]
    input: TextInput
    options: EmbedOptions = EmbedOptions()


class EnrichJob(_In):
    """Media: transcribe, then summarize and embed the transcript. Text: summarize and embed."""

    share_id: ShareId
    task: Literal[JobTask.ENRICH]
    input: TextInput | MediaInput
    options: EnrichOptions = EnrichOptions()


#: A submission; ``task`` selects the input kind and the options schema.
JobCreate = Annotated[
    SummarizeJob | TranscribeJob | EmbedJob | EnrichJob, Field(discriminator="task")
]


class JobAccepted(JobPublic):
    created: bool = Field(description="False when an identical job already existed.")

    model_config = ConfigDict(  # its own example: the inherited one lacks ``created``
        json_schema_extra={
            "examples": [
                {
                    **example,
                    "status": "queued",
                    "started_at": None,
                    "finished_at": None,
                    "result": None,
                    "created": True,
                }
                for example in examples_of(JobPublic)
            ]
        }
    )

    @classmethod
    def of_submission(cls, submission: Submission) -> JobAccepted:
        public = JobPublic.of(submission.job).model_dump()
        return cls(**public, created=submission.created)


class JobsAccepted(BaseModel):
    """The answer to a submission: one job, or the first jobs of an ``enrich`` chain."""

    jobs: list[JobAccepted]
