"""The job repository: the one owner of ``ml_jobs`` state (every status UPDATE lives here).

Two kinds of operation, each stated once:

- **In the caller's transaction** (module functions taking a ``Session``): submit with its
  outbox row, adopt, read, cancel, retry, requeue, fail-unfinished, read a job tree. The
  caller commits, so a job row and the outbox row that publishes it commit together or
  not at all (docs/architecture.md, "How a job flows").
- **One transaction each** (:class:`PostgresJobRepository`, the ``ports.JobRepository``
  the runtime, the relay and the local path use): claim with a lease, heartbeat, end a
  run, finish it, fail a job outside a run, sweep expired leases, read a job tree.

At-least-once delivery makes every transition idempotent: a claim takes only a queued job
or an expired lease; ending and finishing are guarded by ``lease_owner``; the result and
cost rows are unique per job.
"""

from __future__ import annotations

import time
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
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.models import Job, JobStatus, OutboxRow, Result
from bookmarkai_ml.domain.enrich import child_message
from bookmarkai_ml.domain.idempotency import idempotency_key
from bookmarkai_ml.domain.verdict import Ending, LeaseLostError, truncate
from bookmarkai_ml.errors import ConflictError, DatabaseUnavailableError, NotFoundError
from bookmarkai_ml.ports import JobView, Submission, TaskOutcome

#: States from which ``retry`` may requeue a job.
RETRYABLE_STATES = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.BUDGET_EXCEEDED})
#: Short, bounded retries of the finishing transaction (a failover or restart blip).
FINISH_ATTEMPTS = 3
FINISH_RETRY_S = 0.5

# -- in the caller's transaction ---------------------------------------------------------


def key_for(message: TaskMessageT) -> str:
    """The idempotency key of a validated message (tenant, share, task, input, options)."""
    payload = message.model_dump(mode="json", exclude={"task"})
    return idempotency_key(
        tenant_id=message.tenant_id, share_id=message.share_id, task=message.task, payload=payload
    )


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
) -> tuple[Job, bool]:
    """Insert the job unless its idempotency key exists; return (job, created)."""
    job_id = message.job_id or uuid.uuid4()
    key = key_for(message)
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
) -> Submission:
    """Create the job and its outbox row, or return the job that has the same key.

    Two concurrent identical submissions yield one job: the second INSERT waits on the
    unique index and then finds the first one's row.
    """
    job, created = _insert(
        session, message, then=then, parent_id=parent_id, traceparent=traceparent
    )
    if not created:
        return Submission(job=view(session, job.id), created=False)
    enqueue(session, job_id=job.id, task=job.task, kwargs=job.payload, traceparent=traceparent)
    return Submission(job=_view_of(job), created=True)


def adopt(session: Session, message: TaskMessageT, *, traceparent: str | None = None) -> UUID:
    """The job of a message that arrived without a row (it is already queued: no outbox row).

    A producer that never wrote a job (one publishing straight to the queue, see
    docs/messages.md) gets one on first delivery, under the same key as a submission.
    """
    if message.job_id is not None and session.get(Job, message.job_id) is not None:
        return message.job_id
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
    return _view_of(job, result)


_VIEW_COLUMNS = tuple(f.name for f in fields(JobView) if f.name not in ("then", "result"))


def _view_of(job: Job, result: dict[str, Any] | None = None) -> JobView:
    columns = {name: getattr(job, name) for name in _VIEW_COLUMNS}
    return JobView(**columns, then=list(job.then or []), result=result)


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
    return view(session, job_id)


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
    """Put the job back to ``queued`` with a new outbox row (retry, DLQ replay, lease expiry)."""
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


def fail_unfinished(session: Session, job_id: UUID, *, code: str, message: str) -> None:
    """End a queued or running job ``failed`` with ``code``; a finished one is left alone.

    For verdicts reached outside a worker's run: dead letters, unpublishable messages,
    broken contracts, exhausted attempts.
    """
    session.execute(
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
    )


_TREE = """
    WITH RECURSIVE tree AS (
        SELECT id, status, 0 AS depth, created_at FROM ml_jobs WHERE id = ANY(:roots)
        UNION ALL
        SELECT j.id, j.status, t.depth + 1, j.created_at
        FROM ml_jobs j JOIN tree t ON j.parent_id = t.id
    )
"""
_TREE_IDS = text(_TREE + "SELECT id FROM tree ORDER BY depth, created_at")
# Queued jobs with nothing left to publish: an earlier broker-less run died after its
# in-memory "publish"; with no broker to redeliver, they must be queued again.
_ORPHANS = text(
    _TREE + "SELECT tree.id FROM tree WHERE status = 'queued' AND NOT EXISTS "
    "(SELECT 1 FROM ml_outbox o WHERE o.job_id = tree.id AND o.sent_at IS NULL)"
)


def tree(session: Session, roots: Sequence[UUID]) -> list[JobView]:
    """Every job in the chains started by ``roots`` (roots first, then their children)."""
    ids: list[UUID] = list(session.execute(_TREE_IDS, {"roots": list(roots)}).scalars())
    return [view(session, job_id) for job_id in ids]


# -- one transaction each: the worker side ----------------------------------------------

_CLAIM = text(
    """
    UPDATE ml_jobs SET status = 'running', lease_owner = :owner,
        lease_expires_at = now() + make_interval(secs => :lease),
        attempts = attempts + 1, started_at = coalesce(started_at, now()), updated_at = now()
    WHERE id = :id AND (status = 'queued' OR (status = 'running' AND
        (lease_expires_at IS NULL OR lease_expires_at < now() OR lease_owner = :owner)))
    RETURNING attempts
    """
)
_HEARTBEAT = text(
    "UPDATE ml_jobs SET lease_expires_at = now() + make_interval(secs => :lease) "
    "WHERE id = :id AND status = 'running' AND lease_owner = :owner"
)
# owner '' ends a job regardless of its lease (a broken contract found before any claim).
_END = text(
    """
    UPDATE ml_jobs SET status = CAST(:status AS varchar), error_code = :code,
        error_message = :message, retry_after = :retry_after,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
        finished_at = CASE WHEN CAST(:status AS varchar) = 'queued' THEN NULL ELSE now() END
    WHERE id = :id AND status NOT IN ('done', 'cancelled')
      AND (lease_owner = CAST(:owner AS varchar) OR lease_owner IS NULL
           OR CAST(:owner AS varchar) = '')
    RETURNING task, payload, traceparent
    """
)
_DONE = text(
    """
    UPDATE ml_jobs SET status = 'done', finished_at = now(), updated_at = now(),
        lease_owner = NULL, lease_expires_at = NULL, error_code = NULL, error_message = NULL
    WHERE id = :id AND status = 'running' AND lease_owner = :owner
    RETURNING tenant_id, share_id, task, "then", traceparent
    """
)
_RESULT = text(
    "INSERT INTO ml_results (job_id, share_id, task, result) "
    "VALUES (:id, :share_id, :task, CAST(:result AS jsonb)) ON CONFLICT (job_id) DO NOTHING"
)
_COST = text(
    """
    INSERT INTO ml_costs (job_id, tenant_id, task, provider, model, usd, input_tokens,
        output_tokens, audio_seconds, duration_ms)
    VALUES (:id, :tenant_id, :task, :provider, :model, :usd, :input_tokens, :output_tokens,
        :audio_seconds, :duration_ms)
    ON CONFLICT (job_id) DO NOTHING
    """
)
_SETTLE = text(
    "UPDATE ml_budget_reservations SET status = 'settled' WHERE job_id = :id AND status = 'held'"
)
_STALE_LEASES = text(
    "SELECT id, attempts FROM ml_jobs WHERE status = 'running' AND lease_expires_at < now() "
    "ORDER BY lease_expires_at LIMIT 500 FOR UPDATE SKIP LOCKED"
)
_UNFINISHED = text(_TREE + "SELECT count(*) FROM tree WHERE NOT (status = ANY(:terminal))")


class PostgresJobRepository:
    """``ports.JobRepository`` on Postgres; thread-safe (one session per call).

    Raises (every method):
        DatabaseUnavailableError: the database is unreachable.
    """

    def __init__(self, sessions: SessionFactory, *, lease_s: float) -> None:
        self._sessions = sessions
        self._lease_s = float(lease_s)

    def claim(
        self, message: TaskMessageT, *, owner: str, traceparent: str | None = None
    ) -> tuple[UUID, int | None]:
        """Find (or adopt) the message's job and lease it to ``owner``.

        Returns the job id and the run's attempt number, or None when the job is done,
        cancelled, or leased by a live worker (the delivery is a duplicate).
        """
        with transaction(self._sessions) as session:
            job_id = adopt(session, message, traceparent=traceparent)
            params = {"id": job_id, "owner": owner, "lease": self._lease_s}
            attempts = session.execute(_CLAIM, params).scalar()
        return job_id, None if attempts is None else int(attempts)

    def heartbeat(self, job_id: UUID, *, owner: str) -> None:
        """Extend the lease.

        Raises:
            LeaseLostError: the lease expired and was taken over, or the job was cancelled.
        """
        with transaction(self._sessions) as session:
            params = {"id": job_id, "owner": owner, "lease": self._lease_s}
            if session.execute(_HEARTBEAT, params).rowcount == 0:  # type: ignore[attr-defined]
                raise LeaseLostError(f"job {job_id}: lease lost")

    def end(self, job_id: UUID, ending: Ending, *, owner: str) -> None:
        """End ``owner``'s run as ``ending`` says; a retry is queued in the same transaction."""
        params = {
            "id": job_id,
            "status": ending.status,
            "owner": owner,
            "code": ending.code,
            "message": ending.message or None,
            "retry_after": ending.retry_after,
        }
        with transaction(self._sessions) as session:
            row = session.execute(_END, params).first()
            if row is not None and ending.requeue_after_s is not None:
                enqueue(
                    session,
                    job_id=job_id,
                    task=row.task,
                    kwargs=row.payload,
                    traceparent=row.traceparent,
                    delay_s=ending.requeue_after_s,
                )

    def fail(self, job_id: UUID, *, code: str, message: str) -> None:
        """:func:`fail_unfinished` in a transaction of its own."""
        with transaction(self._sessions) as session:
            fail_unfinished(session, job_id, code=code, message=message)

    def finish(self, job_id: UUID, *, owner: str, outcome: TaskOutcome, duration_ms: int) -> bool:
        """Commit the job's success in ONE transaction: status, result, cost, settled
        budget, follow-up jobs. False if the lease was lost or the job was cancelled.

        A database blip is retried a few times here; if it persists the message is
        requeued and the whole finish runs again (the guards absorb the repeat).

        Raises:
            DatabaseUnavailableError: the database stayed unreachable through every attempt.
        """
        for attempt in range(1, FINISH_ATTEMPTS + 1):
            try:
                with transaction(self._sessions) as session:
                    return _finish_in(session, job_id, owner, outcome, duration_ms)
            except DatabaseUnavailableError:
                if attempt == FINISH_ATTEMPTS:
                    raise
                time.sleep(FINISH_RETRY_S * attempt)
        raise AssertionError("unreachable")

    def sweep_expired_leases(self, *, max_attempts: int) -> tuple[int, int]:
        """Requeue running jobs whose worker stopped renewing the lease, or fail those with
        ``max_attempts`` runs started (each killed: hard time limit, OOM).

        Returns (requeued, failed).
        """
        requeued = failed = 0
        with transaction(self._sessions) as session:
            for job_id, attempts in session.execute(_STALE_LEASES).tuples():
                if attempts < max_attempts:
                    requeue(session, job_id, reset_attempts=False)
                    requeued += 1
                    continue
                message = f"{attempts} runs ended with no result (worker killed each time)"
                fail_unfinished(session, job_id, code="attempts_exhausted", message=message)
                failed += 1
        return requeued, failed

    def tree(self, roots: Sequence[UUID]) -> list[JobView]:
        """:func:`tree` in a transaction of its own."""
        with transaction(self._sessions) as session:
            return tree(session, roots)

    def unfinished(self, roots: Sequence[UUID]) -> int:
        """How many jobs of the trees under ``roots`` are not terminal yet."""
        params = {"roots": list(roots), "terminal": sorted(JobStatus.TERMINAL)}
        with transaction(self._sessions) as session:
            return int(session.execute(_UNFINISHED, params).scalar_one())

    def revive_orphans(self, roots: Sequence[UUID]) -> int:
        """Requeue queued jobs of these trees that have no unsent outbox row."""
        with transaction(self._sessions) as session:
            orphans: list[UUID] = list(session.execute(_ORPHANS, {"roots": list(roots)}).scalars())
            for job_id in orphans:
                requeue(session, job_id, reset_attempts=False)
        return len(orphans)


def _finish_in(
    session: Session, job_id: UUID, owner: str, outcome: TaskOutcome, duration_ms: int
) -> bool:
    row = session.execute(_DONE, {"id": job_id, "owner": owner}).first()
    if row is None:
        return False
    result = outcome.result.model_dump_json()
    session.execute(
        _RESULT, {"id": job_id, "share_id": row.share_id, "task": row.task, "result": result}
    )
    cost = outcome.cost
    session.execute(
        _COST,
        {
            "id": job_id,
            "tenant_id": row.tenant_id,
            "task": row.task,
            "provider": cost.provider,
            "model": cost.model,
            "usd": cost.usd,
            "input_tokens": cost.input_tokens,
            "output_tokens": cost.output_tokens,
            "audio_seconds": cost.audio_seconds,
            "duration_ms": duration_ms,
        },
    )
    session.execute(_SETTLE, {"id": job_id})
    for child_task in row.then or []:
        message = child_message(
            TaskType(child_task), tenant_id=row.tenant_id, share_id=row.share_id, outcome=outcome
        )
        if message is not None:
            submit(session, message, parent_id=job_id, traceparent=row.traceparent)
    return True
