"""Everything known about one share of a tenant, read in three statements.

The per-share view (``GET /api/ml/shares/{share_id}``, ``bookmarkai-ml show``): every job
of the share with its cost, the result of the latest ``done`` job of each task (the
transcript, the summary with its tags), the vectors stored in ``ml_embeddings`` per
model (what the embed jobs left), the share's total cost, and when it was erased if it
was (``DELETE /api/ml/shares/{id}`` keeps the jobs and their costs, without content). One
statement reads the jobs, with the results of only those latest done jobs and each job's
cost row joined in; a second one counts the stored vectors; a third reads the tombstone.
No query per job. The caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from sqlalchemy import Select, and_, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from bookmarkai_ml.contracts import SummaryResult, TaskType, TranscriptResult
from bookmarkai_ml.db.jobs.rows import view_of
from bookmarkai_ml.db.models import Cost, Job, JobStatus, Result
from bookmarkai_ml.errors import NotFoundError
from bookmarkai_ml.ports import JobView


@dataclass(frozen=True, slots=True)
class StoredVectors:
    """The share's vectors of one embedding model in ``ml_embeddings``."""

    model: str
    dimension: int
    chunks: int
    created_at: datetime


T = TypeVar("T")
#: A task's result contract.
R = TypeVar("R", TranscriptResult, SummaryResult)
#: A job, its result (only for the latest done job of its task) and its cost.
_Row = tuple[Job, dict[str, Any] | None, Decimal | None]


@dataclass(frozen=True, slots=True)
class Latest(Generic[T]):
    """The result of the latest done job of one task, with that job's id."""

    job_id: UUID
    result: T


@dataclass(frozen=True, slots=True)
class ShareView:
    """One share as the API and the CLI show it; ``jobs`` oldest first, without results."""

    tenant_id: str
    share_id: str
    jobs: list[JobView]
    transcript: Latest[TranscriptResult] | None
    summary: Latest[SummaryResult] | None
    vectors: list[StoredVectors]
    total_usd: Decimal
    erased_at: datetime | None = None


def _latest_done(tenant_id: str, share_id: str) -> Select[UUID]:
    """The id of the latest done job of each task: the one whose result the view shows.

    Only the transcribe and summarize results are read (the embed result is what
    ``ml_embeddings`` holds); skipping the rest keeps large payloads out of the read.
    """
    return (
        select(Job.id)
        .where(
            Job.tenant_id == tenant_id,
            Job.share_id == share_id,
            Job.status == JobStatus.DONE,
            Job.task.in_((TaskType.TRANSCRIBE.value, TaskType.SUMMARIZE.value)),
        )
        .ext(distinct_on(Job.task))
        .order_by(
            Job.task, Job.finished_at.desc().nulls_last(), Job.created_at.desc(), Job.id.desc()
        )
    )


_VECTORS = text(
    """
    SELECT model, dimension, count(*) AS chunks, max(created_at) AS created_at
    FROM ml_embeddings WHERE tenant_id = :tenant AND share_id = :share
    GROUP BY model, dimension ORDER BY max(created_at) DESC, model
    """
)
_ERASED = text("SELECT erased_at FROM ml_erasures WHERE tenant_id = :tenant AND share_id = :share")


def share_view(session: Session, *, tenant_id: str, share_id: str) -> ShareView:
    """The share's jobs, latest results, stored vectors and total cost.

    Raises:
        NotFoundError: the tenant has no job for this share (another tenant's share too).
        DatabaseUnavailableError: the database is unreachable.
    """
    stmt = (
        select(Job, Result.result, Cost.usd)
        .outerjoin(
            Result,
            and_(Result.job_id == Job.id, Job.id.in_(_latest_done(tenant_id, share_id))),
        )
        .outerjoin(Cost, Cost.job_id == Job.id)
        .where(Job.tenant_id == tenant_id, Job.share_id == share_id)
        .order_by(Job.created_at, Job.id)
    )
    rows = cast("list[_Row]", session.execute(stmt).all())
    if not rows:
        raise NotFoundError(f"share {share_id!r} not found")
    results: dict[str, Latest[dict[str, Any]]] = {}
    for job, result, _ in rows:
        if result is not None:
            results[job.task] = Latest(job.id, result)
    vectors = [
        StoredVectors(
            model=str(r.model),
            dimension=int(r.dimension),
            chunks=int(r.chunks),
            created_at=r.created_at,
        )
        for r in session.execute(_VECTORS, {"tenant": tenant_id, "share": share_id})
    ]
    erased_at = session.execute(_ERASED, {"tenant": tenant_id, "share": share_id}).scalar()
    return ShareView(
        tenant_id=tenant_id,
        share_id=share_id,
        jobs=[view_of(job) for job, _, _ in rows],
        transcript=_parsed(results.get(TaskType.TRANSCRIBE), TranscriptResult),
        summary=_parsed(results.get(TaskType.SUMMARIZE), SummaryResult),
        vectors=vectors,
        total_usd=sum((usd for _, _, usd in rows if usd is not None), Decimal(0)),
        erased_at=erased_at,
    )


def _parsed(latest: Latest[dict[str, Any]] | None, model: type[R]) -> Latest[R] | None:
    """The stored JSON read back through its result contract."""
    if latest is None:
        return None
    return Latest(latest.job_id, model.model_validate(latest.result))
