"""Erasure tombstones (``ml_erasures``): which jobs and messages belong to an erased share.

The rule (docs/api.md, "Erasure and retention"): a share erased at ``erased_at`` keeps
no job that existed then. A job **created at or before** ``erased_at`` is erased: it is
never claimed, requeued or retried again. A job created **after** it (the user saved the
item again and the app submitted it through the API) runs as any other. A message that
arrives with no job row (a producer publishing straight to the queue) carries no time we
could trust, so for an erased share it is dropped: submit through the API to process an
erased share again.

Only reads here; the erasure itself is ``db/erasure.py``.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

#: SQL predicate on an ``ml_jobs`` row aliased ``j``: the job predates its share's erasure.
ERASED_JOB = (
    "EXISTS (SELECT 1 FROM ml_erasures e WHERE e.tenant_id = j.tenant_id "
    "AND e.share_id = j.share_id AND e.erased_at >= j.created_at)"
)

_JOB = text(f"SELECT {ERASED_JOB} FROM ml_jobs j WHERE j.id = :id")
_SHARE = text("SELECT 1 FROM ml_erasures WHERE tenant_id = :t AND share_id = :s")


def job_erased(session: Session, job_id: UUID) -> bool:
    """Whether the job exists and predates its share's erasure."""
    return bool(session.execute(_JOB, {"id": job_id}).scalar())


def share_erased(session: Session, *, tenant_id: str, share_id: str) -> bool:
    """Whether the share has a tombstone."""
    return session.execute(_SHARE, {"t": tenant_id, "s": share_id}).first() is not None


_PAYLOAD_REDACTED = text("SELECT payload->>'redacted' FROM ml_jobs WHERE id = :id")


def requeue_refusal(session: Session, job_id: UUID) -> str | None:
    """Why the job may not run again (retry, DLQ replay, lease sweep), or None.

    A job of an erased share, or one whose payload retention blanked, has no input left.
    """
    if job_erased(session, job_id):
        return f"job {job_id} belongs to an erased share; submit the share again instead"
    if session.execute(_PAYLOAD_REDACTED, {"id": job_id}).scalar():
        return f"job {job_id}'s input was pruned by retention; submit it again instead"
    return None
