"""Retention statements: each prunes one batch of old rows in the caller's transaction.

Every statement picks at most ``limit`` rows, oldest first, through the retention index
of migration 0002 (``ix_ml_outbox_sent``, ``ix_ml_jobs_finished``,
``ix_ml_dead_letters_dead_at``) with ``FOR UPDATE SKIP LOCKED``: a row the relay or a
worker holds is skipped this round, never waited for, so a batch holds its few row locks
for one short statement. ``services/retention.py`` runs the batches.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from bookmarkai_ml.db.erasure import BLANK_PAYLOAD
from bookmarkai_ml.db.models import JobStatus
from bookmarkai_ml.domain.redaction import KEEP, RETENTION

_OLDER = "< now() - make_interval(secs => :age_s)"

_OUTBOX = text(
    f"""
    DELETE FROM ml_outbox WHERE id IN (
        SELECT id FROM ml_outbox WHERE sent_at IS NOT NULL AND sent_at {_OLDER}
        ORDER BY sent_at LIMIT :limit FOR UPDATE SKIP LOCKED)
    """
)
_PAYLOADS = text(
    f"""
    UPDATE ml_jobs SET payload = {BLANK_PAYLOAD.replace("{column}", "payload")}
    WHERE id IN (
        SELECT id FROM ml_jobs WHERE finished_at IS NOT NULL AND finished_at {_OLDER}
            AND status = ANY(:terminal) AND NOT (payload ? 'redacted')
        ORDER BY finished_at LIMIT :limit FOR UPDATE SKIP LOCKED)
    """
)
_DEAD_LETTERS = text(
    f"""
    DELETE FROM ml_dead_letters WHERE id IN (
        SELECT id FROM ml_dead_letters WHERE dead_at {_OLDER}
        ORDER BY dead_at LIMIT :limit FOR UPDATE SKIP LOCKED)
    """
)


def _count(session: Session, statement: object, params: dict[str, object]) -> int:
    result = session.execute(statement, params)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


def prune_sent_outbox(session: Session, *, age_s: float, limit: int) -> int:
    """Delete up to ``limit`` outbox rows sent more than ``age_s`` ago; returns how many."""
    return _count(session, _OUTBOX, {"age_s": age_s, "limit": limit})


def blank_job_payloads(session: Session, *, age_s: float, limit: int) -> int:
    """Blank the payloads of up to ``limit`` jobs that ended more than ``age_s`` ago."""
    params = {
        "age_s": age_s,
        "limit": limit,
        "terminal": sorted(JobStatus.TERMINAL),
        "keep": sorted(KEEP),
        "why": RETENTION,
    }
    return _count(session, _PAYLOADS, params)


def prune_dead_letters(session: Session, *, age_s: float, limit: int) -> int:
    """Delete up to ``limit`` archived dead letters older than ``age_s``."""
    return _count(session, _DEAD_LETTERS, {"age_s": age_s, "limit": limit})
