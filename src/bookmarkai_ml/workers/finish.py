"""Finish a job ``done`` in ONE transaction: status, result, cost, settled budget, child jobs.

Redeliveries cannot double anything: the status update is guarded by
``status='running' AND lease_owner=me``, and the result and cost rows are unique per
job (``ON CONFLICT (job_id) DO NOTHING``). A database blip while writing is retried a
few times here; if it persists the message is requeued and the whole finish runs again.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from bookmarkai_ml.contracts import (
    EmbedOptions,
    EmbedTask,
    SummarizeTask,
    TaskType,
    TranscriptSegmentIn,
)
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.errors import DatabaseUnavailableError
from bookmarkai_ml.ports import TaskOutcome
from bookmarkai_ml.services import jobs

#: Short, bounded retries of the finishing transaction (a failover or restart blip).
FINISH_ATTEMPTS = 3
FINISH_RETRY_S = 0.5

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


def child_message(
    task: TaskType, *, tenant_id: str, share_id: str, outcome: TaskOutcome
) -> TaskMessageT | None:
    """The message of a follow-up job fed by the parent's output; None if nothing to feed."""
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


def _finish_in(
    session: Session, *, job_id: UUID, owner: str, outcome: TaskOutcome, duration_ms: int
) -> bool:
    row = session.execute(_DONE, {"id": job_id, "owner": owner}).first()
    if row is None:
        return False
    tenant_id: str = row.tenant_id
    share_id: str = row.share_id
    task: str = row.task
    then: list[str] = row.then or []
    traceparent: str | None = row.traceparent
    params: dict[str, Any] = {"id": job_id, "share_id": share_id, "task": task}
    session.execute(_RESULT, {**params, "result": outcome.result.model_dump_json()})
    cost = outcome.cost
    session.execute(
        _COST,
        {
            "id": job_id,
            "tenant_id": tenant_id,
            "task": task,
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
    for child_task in then:
        message = child_message(
            TaskType(child_task), tenant_id=tenant_id, share_id=share_id, outcome=outcome
        )
        if message is not None:
            jobs.submit(session, message, parent_id=job_id, traceparent=traceparent)
    return True


def finish_done(
    sessions: SessionFactory,
    *,
    job_id: UUID,
    owner: str,
    outcome: TaskOutcome,
    duration_ms: int,
) -> bool:
    """Commit the job's success; False if the lease was lost or the job was cancelled.

    Raises:
        DatabaseUnavailableError: the database stayed unreachable through every attempt.
    """
    for attempt in range(1, FINISH_ATTEMPTS + 1):
        try:
            with jobs.translate_db_errors(), transaction(sessions) as session:
                return _finish_in(
                    session, job_id=job_id, owner=owner, outcome=outcome, duration_ms=duration_ms
                )
        except DatabaseUnavailableError:
            if attempt == FINISH_ATTEMPTS:
                raise
            time.sleep(FINISH_RETRY_S * attempt)
    raise AssertionError("unreachable")
