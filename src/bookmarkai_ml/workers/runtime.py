"""The job runtime: claim a job with a lease, run its handler, finish it exactly once.

Delivery is at-least-once, so every step is idempotent:

- claim: ``queued -> running`` (or take over an expired lease) in one UPDATE; a job
  that is done, cancelled, or leased by a live worker is skipped and its message acked;
- finish: status ``done``, the one ``ml_results`` row, the one ``ml_costs`` row, the
  settled budget reservation and the child jobs of ``then`` (with their outbox rows)
  commit in ONE transaction, guarded by ``status='running' AND lease_owner=me``;
- errors: ``PermanentError`` fails the job; ``RetryableError`` requeues it through the
  outbox with backoff (durable, and independent of broker-side delays), then fails it
  after ``max_retries``; ``BudgetExceededError`` ends it ``budget_exceeded``; anything
  else is a crash: the message is requeued until its last allowed delivery, then the
  job fails and the message goes to the DLQ with the reason.

The runtime decides; ``workers.tasks`` turns the decision into ack / reject.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType, decode_task
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.models import Job
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.errors import (
    BudgetExceededError,
    ConflictError,
    ContractError,
    DatabaseUnavailableError,
    PermanentError,
    RetryableError,
)
from bookmarkai_ml.ports import BudgetLedger, CostLine, TaskOutcome
from bookmarkai_ml.services import jobs
from bookmarkai_ml.workers.context import KeepLeased, RunContext
from bookmarkai_ml.workers.finish import finish_done
from bookmarkai_ml.workers.handlers import HandlerRegistry

log = logging.getLogger(__name__)


class Disposition(StrEnum):
    """What happened to a delivery; also the ``outcome`` label of ``ml_tasks``."""

    DONE = "done"
    FAILED = "failed"
    RETRIED = "retried"
    SKIPPED = "skipped"
    BUDGET_EXCEEDED = "budget_exceeded"
    CANCELLED = "cancelled"
    DEAD_LETTER = "dead_letter"  # ack after sending a copy to the DLQ with the reason
    REQUEUE = "requeue"  # reject with requeue: the broker redelivers (delivery count + 1)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the broker told us about this delivery."""

    delivery_count: int = 0  # quorum queues' x-delivery-count: earlier failed deliveries
    traceparent: str | None = None
    #: The task's hard time limit: past it the lease is no longer renewed, so a run that its
    #: pool cannot kill (threads, solo) loses its job to the lease sweeper.
    time_limit_s: float | None = None


@dataclass(frozen=True, slots=True)
class Report:
    disposition: Disposition
    task: str
    job_id: UUID | None = None
    reason: str | None = None
    cost: CostLine | None = None
    chunks: int | None = None  # transcribed or embedded chunks, for the volume metrics


class _LeaseLost(ConflictError):
    """Another worker took the job over (our lease expired) or it was cancelled."""

    code = "lease_lost"


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
_END = text(
    """
    UPDATE ml_jobs SET status = CAST(:status AS varchar), error_code = :code,
        error_message = :message, retry_after = :retry_after,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
        finished_at = CASE WHEN CAST(:status AS varchar) = 'queued' THEN NULL ELSE now() END
    WHERE id = :id AND status NOT IN ('done', 'cancelled')
      AND (lease_owner = CAST(:owner AS varchar) OR lease_owner IS NULL
           OR CAST(:owner AS varchar) = '')
    """
)


def default_owner() -> str:
    """host:pid:thread: unique per concurrently running task in any pool."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _job_id_of(kwargs: Mapping[str, Any]) -> UUID | None:
    try:
        return UUID(str(kwargs["job_id"]))
    except (KeyError, ValueError, TypeError):
        return None


class JobRuntime:
    """Runs deliveries for one worker process; thread-safe (one session per step)."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: SessionFactory,
        handlers: HandlerRegistry,
        ledger: BudgetLedger,
        time_limit_errors: tuple[type[BaseException], ...] = (),
    ) -> None:
        """``time_limit_errors``: what the pool raises in a task at its soft time limit
        (Celery's ``SoftTimeLimitExceeded``); such a job fails with ``time_limit``."""
        self.settings = settings
        self.sessions = sessions
        self.handlers = handlers
        self.ledger = ledger
        self._time_limit_errors = time_limit_errors
        self._retry_backoff = Backoff(
            initial=1.0, maximum=float(settings.worker.retry_backoff_max_s)
        )

    # -- small transactions --------------------------------------------------------

    def _execute(self, statement: Any, **params: Any) -> None:
        with jobs.translate_db_errors(), transaction(self.sessions) as session:
            session.execute(statement, params)

    def _adopt_and_claim(
        self, message: Any, owner: str, delivery: Delivery
    ) -> tuple[UUID, int | None]:
        """Find (or create) the message's job and lease it, in one transaction."""
        with jobs.translate_db_errors(), transaction(self.sessions) as session:
            job_id = jobs.adopt(session, message, traceparent=delivery.traceparent)
            params = {"id": job_id, "owner": owner, "lease": float(self.settings.worker.lease_s)}
            attempts = session.execute(_CLAIM, params).scalar()
        return job_id, None if attempts is None else int(attempts)

    def heartbeat(self, job_id: UUID, owner: str | None = None) -> None:
        """Extend the lease.

        Raises:
            ConflictError: the lease was lost (expired and taken over, or cancelled).
        """
        with jobs.translate_db_errors(), transaction(self.sessions) as session:
            result = session.execute(
                _HEARTBEAT,
                {
                    "id": job_id,
                    "owner": owner or default_owner(),
                    "lease": float(self.settings.worker.lease_s),
                },
            )
            if getattr(result, "rowcount", 1) == 0:
                raise _LeaseLost(f"job {job_id}: lease lost")

    def _end(
        self,
        job_id: UUID,
        status: str,
        *,
        owner: str,
        code: str | None = None,
        message: str | None = None,
        retry_after: datetime | None = None,
    ) -> None:
        self._execute(
            _END,
            id=job_id,
            status=status,
            owner=owner,
            code=code,
            message=(message or "")[:4000] or None,
            retry_after=retry_after,
        )

    def _release_budget(self, ctx: RunContext) -> None:
        if not ctx.reserved:
            return
        try:
            self.ledger.release(job_id=ctx.job_id)
        except Exception:  # the reservation expires on its own; never mask the real error
            log.exception("could not release the budget reservation of job %s", ctx.job_id)

    def _retry_later(self, job_id: UUID, attempts: int, exc: RetryableError, owner: str) -> None:
        delay = exc.retry_after_s or self._retry_backoff.delay(attempts)
        with jobs.translate_db_errors(), transaction(self.sessions) as session:
            self._end_in(session, job_id, owner=owner, code=exc.code, message=str(exc))
            job = session.get_one(Job, job_id)
            jobs.enqueue(
                session,
                job_id=job_id,
                task=job.task,
                kwargs=job.payload,
                traceparent=job.traceparent,
                delay_s=delay,
            )

    @staticmethod
    def _end_in(session: Any, job_id: UUID, *, owner: str, code: str, message: str) -> None:
        session.execute(
            _END,
            {
                "id": job_id,
                "status": "queued",
                "owner": owner,
                "code": code,
                "message": message[:4000],
                "retry_after": None,
            },
        )

    # -- one delivery -------------------------------------------------------------------

    def run(
        self, task: TaskType, kwargs: Mapping[str, Any], delivery: Delivery = Delivery()
    ) -> Report:
        """Process one delivery of ``task(**kwargs)`` and say what to do with the message."""
        owner = default_owner()
        try:
            message = decode_task(task, kwargs)
        except ContractError as exc:
            reason = f"{exc.code}: {exc.message}"
            job_id = _job_id_of(kwargs)
            if job_id is not None:
                try:
                    self._end(job_id, "failed", owner="", code=exc.code, message=exc.message)
                except DatabaseUnavailableError:
                    return Report(Disposition.REQUEUE, task.value, job_id, "database unavailable")
            return Report(Disposition.DEAD_LETTER, task.value, job_id, reason)
        try:
            job_id, attempts = self._adopt_and_claim(message, owner, delivery)
        except DatabaseUnavailableError as exc:
            return Report(Disposition.REQUEUE, task.value, message.job_id, str(exc))
        if attempts is None:
            return Report(Disposition.SKIPPED, task.value, job_id, "done, cancelled or leased")
        return self._run_claimed(task, message, job_id, attempts, delivery, owner)

    def _run_claimed(
        self,
        task: TaskType,
        message: Any,
        job_id: UUID,
        attempts: int,
        delivery: Delivery,
        owner: str,
    ) -> Report:
        ctx = RunContext(
            job_id=job_id,
            task=task,
            ledger=self.ledger,
            renew=functools.partial(self.heartbeat, job_id, owner),
            time_limit_s=delivery.time_limit_s,
        )
        started = time.monotonic()
        try:
            with KeepLeased(ctx, every_s=self.settings.worker.lease_s / 3):
                outcome: TaskOutcome = self.handlers.get(task)(message, ctx)
        except _LeaseLost as exc:
            return Report(Disposition.SKIPPED, task.value, job_id, str(exc))
        except BudgetExceededError as exc:
            self._release_budget(ctx)
            self._end(
                job_id,
                "budget_exceeded",
                owner=owner,
                code=exc.code,
                message=exc.message,
                retry_after=exc.retry_after,
            )
            return Report(Disposition.BUDGET_EXCEEDED, task.value, job_id, exc.message)
        except PermanentError as exc:
            self._release_budget(ctx)
            self._end(job_id, "failed", owner=owner, code=exc.code, message=exc.message)
            return Report(Disposition.FAILED, task.value, job_id, f"{exc.code}: {exc.message}")
        except RetryableError as exc:
            self._release_budget(ctx)
            if attempts > self.settings.worker.max_retries:
                self._end(
                    job_id,
                    "failed",
                    owner=owner,
                    code=exc.code,
                    message=f"gave up after {attempts} attempts: {exc.message}",
                )
                return Report(Disposition.FAILED, task.value, job_id, exc.message)
            self._retry_later(job_id, attempts, exc, owner)
            return Report(Disposition.RETRIED, task.value, job_id, exc.message)
        except self._time_limit_errors:
            self._release_budget(ctx)
            reason = f"stopped at the {task.value} soft time limit"
            self._end(job_id, "failed", owner=owner, code="time_limit", message=reason)
            return Report(Disposition.FAILED, task.value, job_id, reason)
        except Exception as exc:  # a crash or a poison message; bounded by the delivery limit
            self._release_budget(ctx)
            reason = f"{type(exc).__name__}: {exc}"
            log.exception("task %s job %s crashed", task.value, job_id)
            if delivery.delivery_count + 1 >= self.settings.broker.delivery_limit:
                self._end(
                    job_id,
                    "failed",
                    owner=owner,
                    code="poison_message",
                    message=f"failed on {delivery.delivery_count + 1} deliveries: {reason}",
                )
                return Report(Disposition.DEAD_LETTER, task.value, job_id, reason)
            self._end(job_id, "queued", owner=owner, code="crashed", message=reason)
            return Report(Disposition.REQUEUE, task.value, job_id, reason)
        duration_ms = int((time.monotonic() - started) * 1000)
        try:
            finished = finish_done(
                self.sessions, job_id=job_id, owner=owner, outcome=outcome, duration_ms=duration_ms
            )
        except DatabaseUnavailableError as exc:
            return Report(Disposition.REQUEUE, task.value, job_id, str(exc))
        if not finished:
            return Report(Disposition.SKIPPED, task.value, job_id, "lease lost or cancelled")
        chunks = getattr(outcome.result, "chunks", None)
        return Report(
            Disposition.DONE,
            task.value,
            job_id,
            cost=outcome.cost,
            chunks=chunks if isinstance(chunks, int) else None,
        )
