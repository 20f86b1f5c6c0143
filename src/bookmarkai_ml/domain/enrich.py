"""The enrich chain: which jobs one saved item needs, and what a finished job feeds on.

Media is transcribed first, and the transcript then feeds a summary and embeddings
(``then=[summarize, embed]``: the job repository submits those from the transcript in the
transaction that finishes the transcription, see :func:`child_message`). Text skips
transcription: summary and embeddings run side by side. The API and the CLI both plan
through here (docs/api.md, task ``enrich``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from bookmarkai_ml.contracts import (
    EmbedOptions,
    EmbedTask,
    SummarizeOptions,
    SummarizeTask,
    TaskType,
    TranscribeOptions,
    TranscribeTask,
    TranscriptSegmentIn,
)
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.ports import TaskOutcome


@dataclass(frozen=True, slots=True)
class Planned:
    """One job to submit and the tasks it chains to."""

    message: TaskMessageT
    then: tuple[TaskType, ...] = ()


def plan_enrich(
    *,
    share_id: str,
    tenant_id: str,
    text: str | None = None,
    media_url: str | None = None,
    summarize: SummarizeOptions | None = None,
    transcribe: TranscribeOptions | None = None,
    embed: EmbedOptions | None = None,
) -> list[Planned]:
    """The jobs that enrich one item given either ``text`` or ``media_url``."""
    share = {"share_id": share_id, "tenant_id": tenant_id}
    if media_url is not None:
        message = TranscribeTask(
            **share, media_url=media_url, options=transcribe or TranscribeOptions()
        )
        return [Planned(message, then=(TaskType.SUMMARIZE, TaskType.EMBED))]
    if text is None:
        raise ValueError("enrich needs text or a media URL")
    return [
        Planned(SummarizeTask(**share, content=text, options=summarize or SummarizeOptions())),
        Planned(EmbedTask(**share, content=text, options=embed or EmbedOptions())),
    ]


def child_message(
    task: TaskType, *, tenant_id: str, share_id: str, outcome: TaskOutcome
) -> TaskMessageT | None:
    """The message of a follow-up job fed by its parent's output; None if nothing to feed."""
    text_in = (outcome.follow_up_text or "").strip()
    if not text_in:
        return None
    if task is TaskType.SUMMARIZE:
        return SummarizeTask(tenant_id=tenant_id, share_id=share_id, content=text_in)
    if task is TaskType.EMBED:
        segments = [
            TranscriptSegmentIn(start=s.start, end=s.end, text=s.text)
            for s in outcome.follow_up_segments
        ]
        return EmbedTask(
            tenant_id=tenant_id,
            share_id=share_id,
            content=text_in,
            segments=segments or None,
            options=EmbedOptions(content_kind="transcript" if segments else "text"),
        )
    return None  # transcription needs media, not text: it cannot follow another task
