"""What becomes of a job and its message when a run raises: one pure decision.

The job runtime catches whatever a handler raised and asks :func:`verdict_for`; it then
applies the verdict in one place (end the job, release the budget, ack / requeue /
dead-letter the message). How each path stays bounded is in docs/architecture.md,
"How a job flows":

- ``PermanentError``: the job fails with the error's code; never retried.
- ``RetryableError``: the job is queued again through the outbox after a backoff
  (durable, independent of broker delays), until ``max_retries`` retries, then fails.
- ``BudgetExceededError``: the job ends ``budget_exceeded`` with ``retry_after``.
- the pool's soft time limit: the job fails with ``time_limit`` (rerunning would hit it again).
- ``LeaseLostError``: another worker owns the job now (or it was cancelled): leave it alone.
- anything else is a crash: the message is redelivered until its last allowed delivery
  (the queue's delivery limit), then the job fails and the message is dead-lettered.

No I/O here: the exception, the attempt and delivery counts in; a verdict out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.errors import (
    BudgetExceededError,
    ConflictError,
    PermanentError,
    RetryableError,
)

#: Longest error message stored on a job row.
MAX_ERROR_CHARS = 4000


class Disposition(StrEnum):
    """What happens to a delivery; also the ``outcome`` label of the task metrics."""

    DONE = "done"
    FAILED = "failed"
    RETRIED = "retried"
    SKIPPED = "skipped"
    BUDGET_EXCEEDED = "budget_exceeded"
    CANCELLED = "cancelled"
    DEAD_LETTER = "dead_letter"  # ack after sending a copy to the DLQ with the reason
    REQUEUE = "requeue"  # reject with requeue: the broker redelivers (delivery count + 1)


class LeaseLostError(ConflictError):
    """Another worker took the job over (our lease expired), or it was cancelled."""

    code = "lease_lost"


@dataclass(frozen=True, slots=True)
class Ending:
    """How to end the job's run: the status to write and why."""

    status: str  # failed | queued | budget_exceeded
    code: str
    message: str
    retry_after: datetime | None = None
    #: queued through the outbox after this many seconds (a retry); None: no new message,
    #: the broker redelivers the current one (a crash) or nothing runs again.
    requeue_after_s: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", truncate(self.message))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The message's fate, the job's ending (None: leave the job as it is) and the reason."""

    disposition: Disposition
    ending: Ending | None
    reason: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The bounds a verdict keeps (``worker.max_retries``, ``broker.delivery_limit``)."""

    max_retries: int
    delivery_limit: int
    backoff: Backoff


def truncate(message: str) -> str:
    """An error message short enough for the job row."""
    return message[:MAX_ERROR_CHARS]


def verdict_for(
    exc: BaseException,
    *,
    task: str,
    attempts: int,
    delivery_count: int,
    policy: RetryPolicy,
    time_limit_errors: tuple[type[BaseException], ...] = (),
) -> Verdict:
    """Decide the fate of run number ``attempts`` of a ``task`` job that raised ``exc``.

    ``delivery_count`` is the number of earlier failed deliveries of this message
    (quorum queues' ``x-delivery-count``); ``time_limit_errors`` are what the pool raises
    at the soft time limit (Celery's ``SoftTimeLimitExceeded``).
    """
    if isinstance(exc, LeaseLostError):
        return Verdict(Disposition.SKIPPED, None, str(exc))
    if isinstance(exc, BudgetExceededError):
        ending = Ending("budget_exceeded", exc.code, exc.message, retry_after=exc.retry_after)
        return Verdict(Disposition.BUDGET_EXCEEDED, ending, exc.message)
    if isinstance(exc, PermanentError):
        ending = Ending("failed", exc.code, exc.message)
        return Verdict(Disposition.FAILED, ending, f"{exc.code}: {exc.message}")
    if isinstance(exc, RetryableError):
        if attempts > policy.max_retries:
            message = f"gave up after {attempts} attempts: {exc.message}"
            return Verdict(Disposition.FAILED, Ending("failed", exc.code, message), exc.message)
        delay = exc.retry_after_s or policy.backoff.delay(attempts)
        ending = Ending("queued", exc.code, str(exc), requeue_after_s=delay)
        return Verdict(Disposition.RETRIED, ending, exc.message)
    if time_limit_errors and isinstance(exc, time_limit_errors):
        reason = f"stopped at the {task} soft time limit"
        return Verdict(Disposition.FAILED, Ending("failed", "time_limit", reason), reason)
    reason = f"{type(exc).__name__}: {exc}"
    deliveries = delivery_count + 1
    if deliveries >= policy.delivery_limit:
        message = f"failed on {deliveries} deliveries: {reason}"
        return Verdict(Disposition.DEAD_LETTER, Ending("failed", "poison_message", message), reason)
    return Verdict(Disposition.REQUEUE, Ending("queued", "crashed", reason), reason)
