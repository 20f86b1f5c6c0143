"""Job transitions that each run in a transaction of their own: the worker's side.

Claim with a lease, heartbeat, end a run, finish it, fail a job outside a run, sweep
expired leases, read a job tree. Every one is idempotent under at-least-once delivery: a
claim takes only a queued job or an expired lease; ending and finishing are guarded by
``lease_owner``; the result and cost rows are unique per job.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.db import embeddings, tombstones
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.jobs.rows import (
    TREE,
    adopt,
    cancel,
    ended,
    enqueue,
    fail_unfinished,
    requeue,
    submit,
    tree,
)
from bookmarkai_ml.db.models import JobStatus
from bookmarkai_ml.domain.enrich import child_message
from bookmarkai_ml.domain.idempotency import is_salted
from bookmarkai_ml.domain.verdict import Ending, LeaseLostError
from bookmarkai_ml.errors import ConflictError, DatabaseUnavailableError
from bookmarkai_ml.observability.spans import current_traceparent
from bookmarkai_ml.ports import JobView, TaskOutcome

#: Short, bounded retries of the finishing transaction (a failover or restart blip).
FINISH_ATTEMPTS = 3
FINISH_RETRY_S = 0.5

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
# ``previous`` is the status before this UPDATE (the locked row), so only a real
# transition into a terminal state writes a completion event.
_END = text(
    """
    UPDATE ml_jobs j SET status = CAST(:status AS varchar), error_code = :code,
        error_message = :message, retry_after = :retry_after,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
        finished_at = CASE WHEN CAST(:status AS varchar) = 'queued' THEN NULL ELSE now() END
    FROM (SELECT id, status FROM ml_jobs WHERE id = :id FOR UPDATE) AS before
    WHERE j.id = before.id AND j.status NOT IN ('done', 'cancelled')
      AND (j.lease_owner = CAST(:owner AS varchar) OR j.lease_owner IS NULL
           OR CAST(:owner AS varchar) = '')
    RETURNING j.task, j.payload, j.traceparent, before.status AS previous
    """
)
_DONE = text(
    """
    UPDATE ml_jobs SET status = 'done', finished_at = now(), updated_at = now(),
        lease_owner = NULL, lease_expires_at = NULL, error_code = NULL, error_message = NULL
    WHERE id = :id AND status = 'running' AND lease_owner = :owner
    RETURNING tenant_id, share_id, task, "then", traceparent, idempotency_key, payload
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
# Queued jobs with nothing left to publish: an earlier broker-less run died after its
# in-memory "publish"; with no broker to redeliver, they must be queued again.
_ORPHANS = text(
    TREE + "SELECT tree.id FROM tree WHERE status = 'queued' AND NOT EXISTS "
    "(SELECT 1 FROM ml_outbox o WHERE o.job_id = tree.id AND o.sent_at IS NULL)"
)
_UNFINISHED = text(TREE + "SELECT count(*) FROM tree WHERE NOT (status = ANY(:terminal))")


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
    ) -> tuple[UUID | None, int | None]:
        """Find (or adopt) the message's job and lease it to ``owner``.

        Returns the job id and the run's attempt number, or None when the job is done,
        cancelled, or leased by a live worker (the delivery is a duplicate), or when the
        job predates its share's erasure (an unfinished one is cancelled here; a
        row-less message of an erased share has no job: ``(None, None)``).
        """
        with transaction(self._sessions) as session:
            job_id = adopt(session, message, traceparent=traceparent)
            if job_id is None:
                return None, None
            if tombstones.job_erased(session, job_id):
                _cancel_unfinished(session, job_id)
                return job_id, None
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
        """End ``owner``'s run as ``ending`` says; a retry is queued in the same transaction,
        and so is the completion event of a job that became failed or budget_exceeded."""
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
            if row is None:
                return
            if ending.status in JobStatus.TERMINAL and row.previous != ending.status:
                ended(session, job_id)
            if ending.requeue_after_s is not None:
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
            # Rows unpack as tuples (Result.tuples() is deprecated in SQLAlchemy 2.1).
            stale = cast("list[tuple[UUID, int]]", session.execute(_STALE_LEASES).all())
            for job_id, attempts in stale:
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


def _cancel_unfinished(session: Session, job_id: UUID) -> None:
    """Cancel an erased job that is still unfinished (committed after the erasure read
    the share's jobs); a finished one is left as it is."""
    with contextlib.suppress(ConflictError):
        cancel(session, job_id)


def _salted(row: Row[Any]) -> bool:
    return bool(row.then) and is_salted(
        row.idempotency_key,
        tenant_id=row.tenant_id,
        share_id=row.share_id,
        task=row.task,
        payload=row.payload,
    )


def _finish_in(
    session: Session, job_id: UUID, owner: str, outcome: TaskOutcome, duration_ms: int
) -> bool:
    row = session.execute(_DONE, {"id": job_id, "owner": owner}).first()
    if row is None:
        return False
    if outcome.vectors is not None:  # swapped in with the done status: one commit
        embeddings.store(session, outcome.vectors, job_id=job_id)
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
    ended(session, job_id)
    # A reprocessed parent (salted key) salts its follow-ups too, or they would collapse
    # onto the done jobs of the earlier run when the transcript comes out the same.
    nonce = row.idempotency_key if _salted(row) else None
    for child_task in row.then or []:
        message = child_message(
            TaskType(child_task), tenant_id=row.tenant_id, share_id=row.share_id, outcome=outcome
        )
        if message is not None:
            # The follow-up continues the trace from the span finishing this job (the
            # worker's), else from this job's own traceparent.
            traceparent = current_traceparent() or row.traceparent
            submit(session, message, parent_id=job_id, traceparent=traceparent, nonce=nonce)
    return True
