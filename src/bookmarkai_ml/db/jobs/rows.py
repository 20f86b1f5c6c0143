"""Job transitions in the caller's transaction: submit, adopt, read, cancel, retry,
requeue, fail, and the job tree.

The caller commits, so a job row and the outbox row that publishes it commit together or
not at all (docs/architecture.md, "How a job flows"). Every transition INTO a terminal
state calls :func:`ended`, which writes the job's completion event in the same
transaction (``db/events.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import fields
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bookmarkai_ml.contracts import TASKS, TaskType, encode_task
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.db import events, tombstones
from bookmarkai_ml.db.models import Job, JobStatus, OutboxRow, Result
from bookmarkai_ml.domain.idempotency import idempotency_key, salted
from bookmarkai_ml.domain.verdict import truncate
from bookmarkai_ml.errors import ConflictError, NotFoundError
from bookmarkai_ml.ports import JobView, Submission

#: States from which ``retry`` may requeue a job.
RETRYABLE_STATES = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.BUDGET_EXCEEDED})


def key_for(message: TaskMessageT, *, nonce: str | None = None) -> str:
    """The idempotency key of a validated message (tenant, share, task, input, options).

    ``nonce`` salts it (a reprocess generation, see ``domain.idempotency.salted``).
    """
    payload = message.model_dump(mode="json", exclude={"task"})
    key = idempotency_key(
        tenant_id=message.tenant_id, share_id=message.share_id, task=message.task, payload=payload
    )
    return key if nonce is None else salted(key, nonce)


def enqueue(
    session: Session,
    *,
    job_id: UUID | None,
    task: TaskType | str,
    kwargs: dict[str, Any],
    traceparent: str | None = None,
    delay_s: float = 0.0,
) -> None:
    """Add an outbox row that publishes ``task(**kwargs)``; the relay sends it after commit."""
    row_spec = TASKS.spec(task)
    headers: dict[str, Any] = {"id": str(uuid.uuid4())}
    if traceparent:
        headers["traceparent"] = traceparent
    row = OutboxRow(
        job_id=job_id,
        routing_key=row_spec.queue,
        task_name=row_spec.celery_name,
        kwargs=kwargs,
        headers=headers,
    )
    if delay_s > 0:
        row.next_attempt_at = func.now() + text(f"interval '{float(delay_s):.3f} seconds'")
    session.add(row)


def _insert(
    session: Session,
    message: TaskMessageT,
    *,
    then: Sequence[TaskType | str],
    parent_id: UUID | None,
    traceparent: str | None,
    nonce: str | None = None,
) -> tuple[Job, bool]:
    """Insert the job unless its idempotency key exists; return (job, created)."""
    job_id = message.job_id or uuid.uuid4()
    key = key_for(message, nonce=nonce)
    stmt = (
        insert(Job)
        .values(
            id=job_id,
            tenant_id=message.tenant_id,
            share_id=message.share_id,
            task=TaskType(message.task).value,
            status=JobStatus.QUEUED,
            idempotency_key=key,
            payload=encode_task(message.model_copy(update={"job_id": job_id})),
            parent_id=parent_id,
            then=[TaskType(t).value for t in then],
            traceparent=traceparent,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Job)
    )
    created = session.scalars(stmt).one_or_none()
    if created is not None:
        return created, True
    return session.scalars(select(Job).where(Job.idempotency_key == key)).one(), False


def submit(
    session: Session,
    message: TaskMessageT,
    *,
    then: Sequence[TaskType | str] = (),
    parent_id: UUID | None = None,
    traceparent: str | None = None,
    nonce: str | None = None,
) -> Submission:
    """Create the job and its outbox row, or return the job that has the same key.

    Two concurrent identical submissions yield one job: the second INSERT waits on the
    unique index and then finds the first one's row. ``nonce`` salts the key, so a
    reprocess does not collapse onto the done job of the same input and options.
    """
    job, created = _insert(
        session, message, then=then, parent_id=parent_id, traceparent=traceparent, nonce=nonce
    )
    if not created:
        return Submission(job=view(session, job.id), created=False)
    enqueue(session, job_id=job.id, task=job.task, kwargs=job.payload, traceparent=traceparent)
    return Submission(job=view_of(job), created=True)


def adopt(
    session: Session, message: TaskMessageT, *, traceparent: str | None = None
) -> UUID | None:
    """The job of a message that arrived without a row (it is already queued: no outbox row).

    A producer that never wrote a job (one publishing straight to the queue, see
    docs/messages.md) gets one on first delivery, under the same key as a submission.
    None for a row-less message of an erased share: it is dropped (``db/tombstones.py``).
    """
    if message.job_id is not None and session.get(Job, message.job_id) is not None:
        return message.job_id
    if tombstones.share_erased(session, tenant_id=message.tenant_id, share_id=message.share_id):
        return session.scalars(
            select(Job.id).where(Job.idempotency_key == key_for(message))
        ).first()
    job, _ = _insert(session, message, then=(), parent_id=None, traceparent=traceparent)
    return job.id


def view(session: Session, job_id: UUID) -> JobView:
    """The job with its result (if done).

    Raises:
        NotFoundError: no such job.
    """
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    result = session.execute(select(Result.result).where(Result.job_id == job_id)).scalar()
    return view_of(job, result)


_VIEW_COLUMNS = tuple(f.name for f in fields(JobView) if f.name not in ("then", "result"))


def view_of(job: Job, result: dict[str, Any] | None = None) -> JobView:
    """The repository's view of a loaded job row (``result``: its result, if read)."""
    columns = {name: getattr(job, name) for name in _VIEW_COLUMNS}
    return JobView(**columns, then=list(job.then or []), result=result)


def ended(session: Session, job_id: UUID) -> JobView:
    """The job just reached a terminal state (the caller's UPDATE changed its status):
    write its completion event (outbox and webhooks) in this transaction; return its view.
    """
    job_view = view(session, job_id)
    job = session.get(Job, job_id)
    events.job_ended(session, job_view, traceparent=job.traceparent if job else None)
    return job_view


def _locked(session: Session, job_id: UUID, tenant_id: str | None) -> Job:
    job = session.execute(
        select(Job)
        .where(Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if job is None or (tenant_id is not None and job.tenant_id != tenant_id):
        raise NotFoundError(f"job {job_id} not found")
    return job


def cancel(session: Session, job_id: UUID, *, tenant_id: str | None = None) -> JobView:
    """Cancel a queued or running job; a running handler's result is then discarded.

    Raises:
        NotFoundError: no such job for this tenant.
        ConflictError: the job already ended.
    """
    job = _locked(session, job_id, tenant_id)
    if job.status == JobStatus.CANCELLED:
        return view(session, job_id)
    if job.status in JobStatus.TERMINAL:
        raise ConflictError(f"job {job_id} is {job.status}; it cannot be cancelled")
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            status=JobStatus.CANCELLED,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=func.now(),
            updated_at=func.now(),
        )
    )
    return ended(session, job_id)


def retry(session: Session, job_id: UUID, *, tenant_id: str | None = None) -> JobView:
    """Queue a failed, cancelled or budget-exceeded job again, with a fresh attempt count.

    Raises:
        NotFoundError: no such job for this tenant.
        ConflictError: the job is queued, running or done.
    """
    job = _locked(session, job_id, tenant_id)
    if job.status not in RETRYABLE_STATES:
        raise ConflictError(f"job {job_id} is {job.status}; only ended jobs can be retried")
    requeue(session, job_id)
    return view(session, job_id)


def requeue(
    session: Session, job_id: UUID, *, delay_s: float = 0.0, reset_attempts: bool = True
) -> None:
    """Put the job back to ``queued`` with a new outbox row (retry, DLQ replay, lease expiry).

    Raises:
        ConflictError: the job's input is gone (its share was erased, or retention
            blanked its payload).
    """
    refusal = tombstones.requeue_refusal(session, job_id)
    if refusal is not None:
        raise ConflictError(refusal)
    values: dict[str, Any] = {
        "status": JobStatus.QUEUED,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": None,
        "retry_after": None,
        "updated_at": func.now(),
    }
    if reset_attempts:
        values.update(attempts=0, error_code=None, error_message=None)
    job = session.execute(
        update(Job).where(Job.id == job_id).values(**values).returning(Job)
    ).scalar_one()
    enqueue(
        session,
        job_id=job.id,
        task=job.task,
        kwargs=job.payload,
        traceparent=job.traceparent,
        delay_s=delay_s,
    )


def fail_unfinished(session: Session, job_id: UUID, *, code: str, message: str) -> bool:
    """End a queued or running job ``failed`` with ``code``; a finished one is left alone.

    For verdicts reached outside a worker's run: dead letters, unpublishable messages,
    broken contracts, exhausted attempts. Returns whether the job was failed here.
    """
    failed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .values(
            status=JobStatus.FAILED,
            error_code=code,
            error_message=truncate(message),
            lease_owner=None,
            lease_expires_at=None,
            finished_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Job.id)
    ).scalar()
    if failed is None:
        return False
    ended(session, job_id)
    return True


TREE = """
    WITH RECURSIVE tree AS (
        SELECT id, status, 0 AS depth, created_at FROM ml_jobs WHERE id = ANY(:roots)
        UNION ALL
        SELECT j.id, j.status, t.depth + 1, j.created_at
        FROM ml_jobs j JOIN tree t ON j.parent_id = t.id
    )
"""
_TREE_IDS = text(TREE + "SELECT id FROM tree ORDER BY depth, created_at")


def tree(session: Session, roots: Sequence[UUID]) -> list[JobView]:
    """Every job in the chains started by ``roots`` (roots first, then their children)."""
    ids: list[UUID] = list(session.execute(_TREE_IDS, {"roots": list(roots)}).scalars())
    return [view(session, job_id) for job_id in ids]
