"""The enrich chain: which jobs one saved item needs (SPEC §1b ``enrich``).

Media is transcribed first, and the transcript then feeds a summary and embeddings
(``then=[summarize, embed]``: the worker queues those from the transcript in the
transaction that finishes the transcription). Text skips transcription: summary and
embeddings run side by side. The API and the CLI both plan through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

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
from bookmarkai_ml.services import jobs


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


def family(session: Session, roots: Sequence[UUID]) -> list[jobs.JobView]:
    """Every job in the chains started by ``roots`` (roots first, then their children)."""
    rows: list[UUID] = list(session.execute(_FAMILY, {"roots": list(roots)}).scalars())
    return [jobs.get(session, job_id) for job_id in rows]


_FAMILY = text(
    """
    WITH RECURSIVE tree AS (
        SELECT id, 0 AS depth, created_at FROM ml_jobs WHERE id = ANY(:roots)
        UNION ALL
        SELECT j.id, t.depth + 1, j.created_at FROM ml_jobs j JOIN tree t ON j.parent_id = t.id
    )
    SELECT id FROM tree ORDER BY depth, created_at
    """
)
