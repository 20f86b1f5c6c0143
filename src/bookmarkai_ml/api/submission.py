"""From a ``JobCreate`` body to task messages, and into ``services.jobs.submit``.

The request is checked completely before anything is written: a bad option or a
refused media URL raises here and no job or outbox row exists. ``enrich`` picks the
chain that fits the input (SPEC §1b): media -> ``transcribe`` with
``then=[summarize, embed]`` (the worker queues those from the transcript); text ->
``summarize`` and ``embed`` side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from bookmarkai_ml.api.schemas.jobs import JobCreate, JobTask, MediaInput, TextInput
from bookmarkai_ml.contracts import (
    EmbedOptions,
    EmbedTask,
    SummarizeOptions,
    SummarizeTask,
    TaskType,
    TranscribeOptions,
    TranscribeTask,
)
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.errors import InvalidInputError, UnsafeURLError
from bookmarkai_ml.services import jobs

#: Schemes a media URL may use; the worker's SSRF guard then checks the address.
MEDIA_SCHEMES = frozenset({"http", "https", "s3"})

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Planned:
    """One job to submit and the tasks it chains to."""

    message: TaskMessageT
    then: tuple[TaskType, ...] = ()


def check_media_url(url: str) -> str:
    """``url`` if its scheme is allowed and it names a host.

    Raises:
        UnsafeURLError: another scheme (``file://``, ``ftp://``, ``gopher://``...) or no host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in MEDIA_SCHEMES:
        raise UnsafeURLError(
            f"media_url scheme {parts.scheme or '(none)'!r} is not allowed; use http, https or s3"
        )
    if not parts.netloc:
        raise UnsafeURLError("media_url has no host")
    return url.strip()


def _options(model: type[M], raw: Any, *loc: str) -> M:
    """Validate one options object, reporting errors at ``body.options...``."""
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", "options", *loc, *e["loc"])} for e in exc.errors()]
        ) from None


def _enrich_options(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    unknown = set(raw) - {"summarize", "transcribe", "embed"}
    if unknown:
        raise InvalidInputError(f"enrich options are keyed by task; unknown: {sorted(unknown)}")
    return raw


def plan(body: JobCreate, *, tenant_id: str) -> list[Planned]:
    """The jobs a submission creates, validated.

    Raises:
        InvalidInputError: the input kind does not fit the task.
        UnsafeURLError: the media URL's scheme is not allowed.
        RequestValidationError: options do not match the task's options schema.
    """
    common = {"share_id": body.share_id, "tenant_id": tenant_id}
    task, inp, opts = body.task, body.input, body.options
    if isinstance(inp, MediaInput):
        url = check_media_url(inp.media_url)
        if task is JobTask.TRANSCRIBE:
            return [
                Planned(
                    TranscribeTask(
                        **common, media_url=url, options=_options(TranscribeOptions, opts)
                    )
                )
            ]
        if task is JobTask.ENRICH:
            sub = _enrich_options(opts)
            options = _options(TranscribeOptions, sub.get("transcribe"), "transcribe")
            message = TranscribeTask(**common, media_url=url, options=options)
            return [Planned(message, then=(TaskType.SUMMARIZE, TaskType.EMBED))]
        raise InvalidInputError(
            f"{task.value} needs input.text; use transcribe or enrich for media"
        )
    assert isinstance(inp, TextInput)
    if task is JobTask.SUMMARIZE:
        return [
            Planned(
                SummarizeTask(**common, content=inp.text, options=_options(SummarizeOptions, opts))
            )
        ]
    if task is JobTask.EMBED:
        return [
            Planned(EmbedTask(**common, content=inp.text, options=_options(EmbedOptions, opts)))
        ]
    if task is JobTask.ENRICH:
        sub = _enrich_options(opts)
        summarize = _options(SummarizeOptions, sub.get("summarize"), "summarize")
        embed = _options(EmbedOptions, sub.get("embed"), "embed")
        return [
            Planned(SummarizeTask(**common, content=inp.text, options=summarize)),
            Planned(EmbedTask(**common, content=inp.text, options=embed)),
        ]
    raise InvalidInputError("transcribe needs input.media_url")


def submit(
    session: Session, planned: list[Planned], *, traceparent: str | None
) -> list[jobs.Submission]:
    """Submit every planned job in the caller's transaction (all or none)."""
    return [jobs.submit(session, p.message, then=p.then, traceparent=traceparent) for p in planned]
