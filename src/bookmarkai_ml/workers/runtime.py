"""The job runtime: claim a job with a lease, run its handler, end the run exactly once.

Delivery is at-least-once, so every step is idempotent (the guards are the job
repository's, ``db/jobs/``): a duplicate delivery of a job that is done, cancelled or
leased by a live worker is skipped and its message acked; the finish commits the result,
the cost, the settled budget and the follow-up jobs in one transaction. When the handler
raises, ``domain.verdict`` decides and :meth:`JobRuntime._apply` carries it out, in one
place. ``workers.tasks`` turns the report's disposition into ack / reject.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from bookmarkai_ml.contracts import TaskType, decode_task
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.domain.verdict import Disposition, RetryPolicy, Verdict, verdict_for
from bookmarkai_ml.errors import ContractError, DatabaseUnavailableError
from bookmarkai_ml.ports import BudgetLedger, CostLine, JobRepository, TaskOutcome
from bookmarkai_ml.workers.context import KeepLeased, RunContext
from bookmarkai_ml.workers.handlers import HandlerRegistry

log = logging.getLogger(__name__)

#: Waits between claims while the database is unreachable (about 30 s in all), before the
#: message is requeued. A requeue comes straight back and counts against the queue's
#: x-delivery-limit: the chaos soak's Postgres restart (a few seconds) spent the limit in
#: a fraction of a second and dead-lettered the jobs waiting in the queue.
CLAIM_WAITS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)

__all__ = ["Delivery", "Disposition", "JobRuntime", "Report", "default_owner"]


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
    """What one delivery came to; the metrics hooks and the ack/reject decision read it."""

    disposition: Disposition
    task: str
    job_id: UUID | None = None
    reason: str | None = None
    cost: CostLine | None = None
    chunks: int | None = None  # transcribed or embedded chunks, for the volume metrics


def default_owner() -> str:
    """host:pid:thread: unique per concurrently running task in any pool."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _job_id_of(kwargs: Mapping[str, Any]) -> UUID | None:
    try:
        return UUID(str(kwargs["job_id"]))
    except (KeyError, ValueError, TypeError):
        return None


class JobRuntime:
    """Runs deliveries for one worker process; thread-safe (the repository opens a session
    per call)."""

    def __init__(
        self,
        *,
        jobs: JobRepository,
        handlers: HandlerRegistry,
        ledger: BudgetLedger,
        policy: RetryPolicy,
        lease_s: float,
        time_limit_errors: tuple[type[BaseException], ...] = (),
        claim_waits_s: tuple[float, ...] = CLAIM_WAITS_S,
    ) -> None:
        """``time_limit_errors``: what the pool raises in a task at its soft time limit
        (Celery's ``SoftTimeLimitExceeded``); such a job fails with ``time_limit``.
        ``claim_waits_s``: the pauses between claims while the database is unreachable."""
        self.jobs = jobs
        self._claim_waits_s = claim_waits_s
        self.handlers = handlers
        self.ledger = ledger
        self._policy = policy
        self._lease_s = lease_s
        self._time_limit_errors = time_limit_errors

    def run(
        self, task: TaskType, kwargs: Mapping[str, Any], delivery: Delivery = Delivery()
    ) -> Report:
        """Process one delivery of ``task(**kwargs)`` and say what to do with the message."""
        try:
            message = decode_task(task, kwargs)
        except ContractError as exc:
            return self._broken_contract(task, kwargs, exc)
        owner = default_owner()
        try:
            job_id, attempts = self._claim(message, owner, delivery)
        except DatabaseUnavailableError as exc:
            return Report(Disposition.REQUEUE, task.value, message.job_id, str(exc))
        if job_id is None or attempts is None:
            reason = "done, cancelled, leased or erased"
            return Report(Disposition.SKIPPED, task.value, job_id, reason)
        return self._run_claimed(task, message, job_id, attempts, delivery, owner)

    def _claim(
        self, message: TaskMessageT, owner: str, delivery: Delivery
    ) -> tuple[UUID | None, int | None]:
        """Claim, riding out a database restart (``claim_waits_s``) before giving up.

        Raises:
            DatabaseUnavailableError: still unreachable after the last wait.
        """
        for wait_s in (*self._claim_waits_s, None):
            try:
                return self.jobs.claim(message, owner=owner, traceparent=delivery.traceparent)
            except DatabaseUnavailableError as exc:
                if wait_s is None:
                    raise
                log.warning("database unavailable (%s); claiming again in %.1f s", exc, wait_s)
                time.sleep(wait_s)
        raise AssertionError("unreachable")

    def _broken_contract(
        self, task: TaskType, kwargs: Mapping[str, Any], exc: ContractError
    ) -> Report:
        job_id = _job_id_of(kwargs)
        if job_id is not None:
            try:
                self.jobs.fail(job_id, code=exc.code, message=exc.message)
            except DatabaseUnavailableError:
                return Report(Disposition.REQUEUE, task.value, job_id, "database unavailable")
        return Report(Disposition.DEAD_LETTER, task.value, job_id, f"{exc.code}: {exc.message}")

    def _run_claimed(
        self,
        task: TaskType,
        message: TaskMessageT,
        job_id: UUID,
        attempts: int,
        delivery: Delivery,
        owner: str,
    ) -> Report:
        ctx = RunContext(
            job_id=job_id,
            task=task,
            ledger=self.ledger,
            renew=lambda: self.jobs.heartbeat(job_id, owner=owner),
            time_limit_s=delivery.time_limit_s,
        )
        started = time.monotonic()
        try:
            with KeepLeased(ctx, every_s=self._lease_s / 3):
                outcome: TaskOutcome = self.handlers.get(task)(message, ctx)
        except Exception as exc:  # every failure is judged by domain.verdict
            verdict = verdict_for(
                exc,
                task=task.value,
                attempts=attempts,
                delivery_count=delivery.delivery_count,
                policy=self._policy,
                time_limit_errors=self._time_limit_errors,
            )
            return self._apply(verdict, exc, ctx, task, owner)
        duration_ms = int((time.monotonic() - started) * 1000)
        try:
            finished = self.jobs.finish(
                job_id, owner=owner, outcome=outcome, duration_ms=duration_ms
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

    def _apply(
        self, verdict: Verdict, exc: Exception, ctx: RunContext, task: TaskType, owner: str
    ) -> Report:
        """Carry out a verdict: release the budget, end the job, report the disposition.

        Raises:
            DatabaseUnavailableError: the job could not be ended; the message is requeued
                by the caller and the whole delivery runs again.
        """
        if verdict.disposition in (Disposition.REQUEUE, Disposition.DEAD_LETTER):
            log.error("task %s job %s crashed", task.value, ctx.job_id, exc_info=exc)
        if verdict.ending is not None:
            self._release_budget(ctx)
            self.jobs.end(ctx.job_id, verdict.ending, owner=owner)
        return Report(verdict.disposition, task.value, ctx.job_id, verdict.reason)

    def _release_budget(self, ctx: RunContext) -> None:
        if not ctx.reserved:
            return
        try:
            self.ledger.release(job_id=ctx.job_id)
        except Exception:  # the reservation expires on its own; never mask the real error
            log.exception("could not release the budget reservation of job %s", ctx.job_id)
