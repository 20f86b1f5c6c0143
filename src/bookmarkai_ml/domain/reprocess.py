"""Reprocess: which jobs run a share's tasks again, fed by given input or the latest jobs'.

``latest`` maps a task to the payload of the share's newest job of that task
(``db.jobs.latest``). Given ``text`` feeds summarize and embed, a given ``media_url``
feeds transcribe; a task with no given input reuses its latest job's (summarize and
embed fall back on each other's text). Options given for a task replace its latest
job's; options not given keep them. ``enrich`` re-runs the chain: media when the share
was transcribed (or a URL is given), text otherwise. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from bookmarkai_ml.contracts import (
    EmbedOptions,
    EmbedTask,
    SummarizeOptions,
    SummarizeTask,
    TaskType,
    TranscribeOptions,
    TranscribeTask,
    decode_task,
)
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.domain.enrich import Planned
from bookmarkai_ml.errors import ContractError, InvalidInputError, NoStoredInputError

ENRICH = "enrich"
Payloads = Mapping[str, Mapping[str, Any]]
M = TypeVar("M", bound=BaseModel)


def _previous(task: TaskType, latest: Payloads) -> TaskMessageT | None:
    """The latest job's message of ``task``; None if none, or its payload was erased."""
    payload = latest.get(task.value)
    if not payload:
        return None
    try:
        return decode_task(task, payload)
    except ContractError:
        return None


def _with(message: M, options: BaseModel | None, **update: Any) -> M:
    """A copy of an earlier job's message for a new job (no job id), with new options."""
    if options is not None:
        update["options"] = options
    return message.model_copy(update={"job_id": None, **update})


def _text_of(latest: Payloads, *tasks: TaskType) -> str | None:
    for task in tasks:
        message = _previous(task, latest)
        content = getattr(message, "content", "") if message is not None else ""
        if content.strip():
            return str(content)
    return None


def _summarize(
    share: dict[str, str], latest: Payloads, text: str | None, options: SummarizeOptions | None
) -> SummarizeTask:
    previous = _previous(TaskType.SUMMARIZE, latest)
    text = text or _text_of(latest, TaskType.SUMMARIZE, TaskType.EMBED)
    if text is None:
        raise NoStoredInputError("no text to summarize: this share has none stored; give input")
    if isinstance(previous, SummarizeTask):
        return _with(previous, options, content=text)
    return SummarizeTask(**share, content=text, options=options or SummarizeOptions())


def _embed(
    share: dict[str, str], latest: Payloads, text: str | None, options: EmbedOptions | None
) -> EmbedTask:
    previous = _previous(TaskType.EMBED, latest)
    stored = isinstance(previous, EmbedTask) and (previous.content.strip() or previous.segments)
    if text is None and isinstance(previous, EmbedTask) and stored:
        return _with(previous, options)
    text = text or _text_of(latest, TaskType.SUMMARIZE)
    if text is None:
        raise NoStoredInputError("no text to embed: this share has none stored; give input")
    if isinstance(previous, EmbedTask):
        return _with(previous, options, content=text, segments=None)
    return EmbedTask(**share, content=text, options=options or EmbedOptions())


def _transcribe(
    share: dict[str, str],
    latest: Payloads,
    media_url: str | None,
    options: TranscribeOptions | None,
) -> TranscribeTask:
    previous = _previous(TaskType.TRANSCRIBE, latest)
    if isinstance(previous, TranscribeTask):
        update = {"media_url": media_url} if media_url else {}
        return _with(previous, options, **update)
    if media_url is None:
        raise NoStoredInputError("no media to transcribe: this share has none stored; give input")
    return TranscribeTask(**share, media_url=media_url, options=options or TranscribeOptions())


def plan_reprocess(
    *,
    tenant_id: str,
    share_id: str,
    tasks: Sequence[str],
    latest: Payloads,
    text: str | None = None,
    media_url: str | None = None,
    summarize: SummarizeOptions | None = None,
    transcribe: TranscribeOptions | None = None,
    embed: EmbedOptions | None = None,
) -> list[Planned]:
    """The jobs that run ``tasks`` again for the share.

    Raises:
        NoStoredInputError: a task has no input given and none stored to reuse (409).
        InvalidInputError: an unknown task.
    """
    share = {"tenant_id": tenant_id, "share_id": share_id}
    if ENRICH in tasks:
        if media_url is not None or (text is None and TaskType.TRANSCRIBE.value in latest):
            message = _transcribe(share, latest, media_url, transcribe)
            return [Planned(message, then=(TaskType.SUMMARIZE, TaskType.EMBED))]
        tasks = [TaskType.SUMMARIZE.value, TaskType.EMBED.value]
    planned: list[Planned] = []
    for task in dict.fromkeys(tasks):  # once each, in the order given
        if task == TaskType.SUMMARIZE.value:
            planned.append(Planned(_summarize(share, latest, text, summarize)))
        elif task == TaskType.EMBED.value:
            planned.append(Planned(_embed(share, latest, text, embed)))
        elif task == TaskType.TRANSCRIBE.value:
            planned.append(Planned(_transcribe(share, latest, media_url, transcribe)))
        else:
            raise InvalidInputError(f"unknown task {task!r}")
    return planned
