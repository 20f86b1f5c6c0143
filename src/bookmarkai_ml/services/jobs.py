"""Jobs: submit (idempotently, with an outbox row in the same transaction), get, cancel, retry.

The caller owns the transaction (``db.engine.transaction``): a job row and the outbox
row that will publish it commit together or not at all, so a crash between commit
and publish loses nothing; the relay publishes the row later. Every path that puts a
job (back) on a queue goes through :func:`enqueue`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from bookmarkai_ml.contracts import QUEUES, TASK_NAMES, TaskType, encode_task
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.db.models import Job, JobStatus, OutboxRow, Result
from bookmarkai_ml.domain.idempotency import idempotency_key
from bookmarkai_ml.errors import ConflictError, DatabaseUnavailableError, NotFoundError

#: States from which ``retry`` may requeue a job.
RETRYABLE_STATES = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.BUDGET_EXCEEDED})


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn a lost or unreachable database into ``DatabaseUnavailableError`` (retryable).

    Raises:
        DatabaseUnavailableError: SQLAlchemy reported a connection-level failure.
    """
    try:
        yield
    except OperationalError as exc:
        raise DatabaseUnavailableError(f"database unavailable: {exc.orig!r}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailableError(f"database connection lost: {exc.orig!r}") from exc
        raise


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as services and the API return it."""

    id: UUID
    tenant_id: str
    share_id: str
    task: str
    status: str
    attempts: int
    then: list[str]
    parent_id: UUID | None
    error_code: str | None
    error_message: str | None
    retry_after: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None = None

    @classmethod
    def of(cls, job: Job, result: dict[str, Any] | None = None) -> JobView:
        return cls(
            id=job.id,
            tenant_id=job.tenant_id,
            share_id=job.share_id,
            task=job.task,
            status=job.status,
            attempts=job.attempts,
            then=list(job.then or []),
            parent_id=job.parent_id,
            error_code=job.error_code,
            error_message=job.error_message,
            retry_after=job.retry_after,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            result=result,
        )


@dataclass(frozen=True, slots=True)
class Submission:
    """The job a submission maps to; ``created`` is False for a duplicate."""

    job: JobView
    created: bool


def key_for(message: TaskMessageT, task: TaskType | str) -> str:
    """The idempotency key of a validated message."""
    payload = message.model_dump(mode="json", exclude={"task"})
    return idempotency_key(
        tenant_id=message.tenant_id, share_id=message.share_id, task=str(task), payload=payload
    )


def _task_of(message: TaskMessageT) -> TaskType:
    return TaskType(message.task)


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
    task_type = TaskType(task)
    headers: dict[str, Any] = {"id": str(uuid.uuid4())}
    if traceparent:
        headers["traceparent"] = traceparent
    row = OutboxRow(
        job_id=job_id,
        routing_key=QUEUES[task_type],
        task_name=TASK_NAMES[task_type],
        kwargs=kwargs,
        headers=headers,
    )
    if delay_s > 0:
        row.next_attempt_at = func.now() + text(f"interval '{float(delay_s):.3f} seconds'")
    session.add(row)


def _insert_job(
    session: Session,
    message: TaskMessageT,
    *,
    job_id: UUID,
    then: Sequence[TaskType | str],
    parent_id: UUID | None,
    traceparent: str | None,
) -> tuple[Job, bool]:
    """Insert the job unless its idempotency key exists; return (job, created)."""
    task = _task_of(message)
    payload = encode_task(message.model_copy(update={"job_id": job_id}))
    stmt = (
        insert(Job)
        .values(
            id=job_id,
            tenant_id=message.tenant_id,
            share_id=message.share_id,
            task=task.value,
            status=JobStatus.QUEUED,
            idempotency_key=key_for(message, task),
            payload=payload,
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
    existing = session.scalars(
        select(Job).where(Job.idempotency_key == key_for(message, task))
    ).one()
    return existing, False


def submit(
    session: Session,
    message: TaskMessageT,
    *,
    then: Sequence[TaskType | str] = (),
    parent_id: UUID | None = None,
    traceparent: str | None = None,
) -> Submission:
    """Create the job and its outbox row, or return the job that has the same key.

    Two concurrent identical submissions yield one job: the second INSERT waits on
    the unique index and then finds the first one's row.

    Raises:
        DatabaseUnavailableError: the database is unreachable.
    """
    with translate_db_errors():
        job, created = _insert_job(
            session,
            message,
            job_id=message.job_id or uuid.uuid4(),
            then=then,
            parent_id=parent_id,
            traceparent=traceparent,
        )
        if not created:
            return Submission(job=_view(session, job.id), created=False)
        enqueue(session, job_id=job.id, task=job.task, kwargs=job.payload, traceparent=traceparent)
        return Submission(job=JobView.of(job), created=True)


def adopt(session: Session, message: TaskMessageT, *, traceparent: str | None = None) -> UUID:
    """The job of a message that arrived without a row (no outbox row: it is already queued).

    A producer that never wrote a job (the seed's gateway published straight to the
    queue) gets one on first delivery, under the same idempotency key as a submission.
    """
    with translate_db_errors():
        if message.job_id is not None and session.get(Job, message.job_id) is not None:
            return message.job_id
        job, _ = _insert_job(
            session,
            message,
            job_id=message.job_id or uuid.uuid4(),
            then=(),
            parent_id=None,
            traceparent=traceparent,
        )
        return job.id


def _view(session: Session, job_id: UUID) -> JobView:
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    result = session.execute(select(Result.result).where(Result.job_id == job_id)).scalar()
    return JobView.of(job, result)


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


def get(session: Session, job_id: UUID, *, tenant_id: str | None = None) -> JobView:
    """The job with its result (if done).

    Raises:
        NotFoundError: no such job for this tenant.
    """
    with translate_db_errors():
        view = _view(session, job_id)
    if tenant_id is not None and view.tenant_id != tenant_id:
        raise NotFoundError(f"job {job_id} not found")
    return view


def cancel(session: Session, job_id: UUID, *, tenant_id: str | None = None) -> JobView:
    """Cancel a queued or running job; a running handler's result is then discarded.

    Raises:
        NotFoundError: no such job for this tenant.
        ConflictError: the job already ended.
    """
    with translate_db_errors():
        job = _locked(session, job_id, tenant_id)
        if job.status == JobStatus.CANCELLED:
            return _view(session, job_id)
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
        return _view(session, job_id)


def retry(session: Session, job_id: UUID, *, tenant_id: str | None = None) -> JobView:
    """Queue a failed, cancelled or budget-exceeded job again, with a fresh attempt count.

    Raises:
        NotFoundError: no such job for this tenant.
        ConflictError: the job is queued, running or done.
    """
    with translate_db_errors():
        job = _locked(session, job_id, tenant_id)
        if job.status not in RETRYABLE_STATES:
            raise ConflictError(f"job {job_id} is {job.status}; only ended jobs can be retried")
        requeue(session, job)
        return _view(session, job_id)


def expire_lease(session: Session, job: Job, *, max_attempts: int) -> bool:
    """A running job whose worker stopped renewing its lease: requeue it, or fail it once
    ``max_attempts`` runs have started (each killed, e.g. at its hard time limit, or OOM).

    Returns whether the job was requeued.
    """
    if job.attempts < max_attempts:
        requeue(session, job, reset_attempts=False)
        return True
    fail_unfinished(
        session,
        job.id,
        code="attempts_exhausted",
        message=f"{job.attempts} runs ended with no result (worker killed each time)",
    )
    return False


def fail_unfinished(session: Session, job_id: UUID, *, code: str, message: str) -> None:
    """End a queued or running job ``failed`` with ``code``; a finished one is left alone.

    For verdicts reached outside a worker's run (dead letters, unpublishable messages,
    exhausted attempts); the runtime ends its own runs under its lease.
    """
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .values(
            status=JobStatus.FAILED,
            error_code=code,
            error_message=message[:4000],
            lease_owner=None,
            lease_expires_at=None,
            finished_at=func.now(),
            updated_at=func.now(),
        )
    )


def requeue(
    session: Session, job: Job, *, delay_s: float = 0.0, reset_attempts: bool = True
) -> None:
    """Put ``job`` back to ``queued`` and add its outbox row (retry, DLQ replay, lease expiry)."""
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
    session.execute(update(Job).where(Job.id == job.id).values(**values))
    enqueue(
        session,
        job_id=job.id,
        task=job.task,
        kwargs=job.payload,
        traceparent=job.traceparent,
        delay_s=delay_s,
    )
