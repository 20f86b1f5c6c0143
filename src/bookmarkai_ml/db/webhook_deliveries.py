"""The deliverer's side of ``ml_webhook_deliveries``: claim due deliveries, record attempts.

No transaction stays open across an HTTP call. :func:`claim_due` takes due rows with
``FOR UPDATE SKIP LOCKED`` (several relays share the work) and, in the same short
transaction, pushes their ``next_attempt_at`` past a lease, so no other deliverer takes
them while the request is in flight; a deliverer that dies mid-request leaves the row to
be retried when the lease ends (at least once: the ``webhook-id`` lets receivers
deduplicate). :func:`record` then writes the outcome in a second short transaction,
only if the row is still as claimed (``attempts`` unchanged, still ``pending``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from bookmarkai_ml.config import WebhookSettings
from bookmarkai_ml.domain.webhook_policy import (
    AttemptOutcome,
    disable_reason,
    next_delay,
)

_CLAIM = text(
    """
    WITH due AS (
        SELECT d.id FROM ml_webhook_deliveries d
        WHERE d.status = 'pending' AND d.next_attempt_at <= now()
          AND EXISTS (SELECT 1 FROM ml_webhooks w WHERE w.id = d.webhook_id AND w.enabled)
        ORDER BY d.next_attempt_at, d.id
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE ml_webhook_deliveries d
    SET next_attempt_at = now() + make_interval(secs => :lease_s)
    FROM due, ml_webhooks w
    WHERE d.id = due.id AND w.id = d.webhook_id
    RETURNING d.id, d.webhook_id, d.event_id, d.body, d.attempts, w.url, w.secret
    """
)
_FINISH = text(
    """
    UPDATE ml_webhook_deliveries
    SET attempts = attempts + 1, status = :status, last_status_code = :code,
        last_error = :error, next_attempt_at = now() + make_interval(secs => :delay_s),
        delivered_at = CASE WHEN CAST(:delivered AS boolean) THEN now() END
    WHERE id = :id AND status = 'pending' AND attempts = :attempts
    RETURNING id
    """
)
_ATTEMPT = text(
    "INSERT INTO ml_webhook_attempts (delivery_id, attempted_at, status_code, error, duration_ms) "
    "VALUES (:id, :at, :code, :error, :ms)"
)
_CONSECUTIVE_FAILED = text(
    """
    SELECT count(*) FROM ml_webhook_deliveries
    WHERE webhook_id = :w AND status = 'failed'
      AND id > coalesce((SELECT max(id) FROM ml_webhook_deliveries
                         WHERE webhook_id = :w AND status = 'delivered'), 0)
      -- re-enabled: only what failed since the endpoint was last disabled counts
      AND created_at > coalesce((SELECT disabled_at FROM ml_webhooks WHERE id = :w),
                                '-infinity')
    """
)
_FAILING_FOR = text(
    """
    SELECT extract(epoch FROM now() - min(a.attempted_at))
    FROM ml_webhook_attempts a JOIN ml_webhook_deliveries d ON d.id = a.delivery_id
    WHERE d.webhook_id = :w AND a.attempted_at > greatest(coalesce((
        SELECT max(s.attempted_at)
        FROM ml_webhook_attempts s JOIN ml_webhook_deliveries sd ON sd.id = s.delivery_id
        WHERE sd.webhook_id = :w AND s.status_code BETWEEN 200 AND 299), '-infinity'),
        coalesce((SELECT disabled_at FROM ml_webhooks WHERE id = :w), '-infinity'))
    """
)
_DISABLE = text(
    "UPDATE ml_webhooks SET enabled = false, disabled_reason = :reason, disabled_at = now() "
    "WHERE id = :w AND enabled RETURNING id"
)
_ABANDON = text(
    "UPDATE ml_webhook_deliveries SET status = 'failed', last_error = :error "
    "WHERE webhook_id = :w AND status = 'pending'"
)


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery: what to send, where, and signed with which secret."""

    id: int
    webhook_id: UUID
    event_id: str
    body: str  # the JSON sent and signed, the same bytes on every attempt
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """What an attempt did: ``delivered``, ``retrying``, ``failed`` (schedule exhausted),
    or ``stale`` (the row changed since the claim: deleted, disabled or taken over)."""

    status: str
    disabled: str | None = None


def _body(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def claim_due(session: Session, *, limit: int, lease_s: float) -> list[Due]:
    """Claim up to ``limit`` due deliveries of enabled endpoints for ``lease_s`` seconds."""
    rows = session.execute(_CLAIM, {"limit": limit, "lease_s": lease_s}).all()
    return [Due(r[0], r[1], r[2], _body(r[3]), r[4], r[5], r[6]) for r in rows]


def record(
    session: Session,
    due: Due,
    outcome: AttemptOutcome,
    *,
    settings: WebhookSettings,
) -> Recorded:
    """Write the attempt and the delivery's new state; disable a failing endpoint."""
    made = due.attempts + 1
    delay = 0.0 if outcome.ok else next_delay(settings.retry_schedule_s, made)
    status = "delivered" if outcome.ok else ("failed" if delay is None else "pending")
    params = {
        "id": due.id,
        "attempts": due.attempts,
        "status": status,
        "delivered": outcome.ok,
        "code": outcome.status_code,
        "error": outcome.error,
        "delay_s": delay or 0.0,
    }
    if session.execute(_FINISH, params).first() is None:
        return Recorded("stale")
    session.execute(
        _ATTEMPT,
        {
            "id": due.id,
            "at": outcome.started_at,
            "code": outcome.status_code,
            "error": outcome.error,
            "ms": outcome.duration_ms,
        },
    )
    if outcome.ok:
        return Recorded("delivered")
    reason = _disable_reason(session, due.webhook_id, settings)
    if (
        reason is not None
        and session.execute(_DISABLE, {"w": due.webhook_id, "reason": reason}).first()
    ):
        # This delivery too, if it had retries left: a disabled endpoint gets nothing more.
        session.execute(_ABANDON, {"w": due.webhook_id, "error": f"endpoint disabled: {reason}"})
        return Recorded("failed", disabled=reason)
    return Recorded("failed" if status == "failed" else "retrying")


def _disable_reason(session: Session, webhook_id: UUID, settings: WebhookSettings) -> str | None:
    failed = int(session.execute(_CONSECUTIVE_FAILED, {"w": webhook_id}).scalar_one())
    failing = session.execute(_FAILING_FOR, {"w": webhook_id}).scalar()
    return disable_reason(
        consecutive_failed=failed,
        failing_for_s=None if failing is None else float(failing),
        max_failed=settings.disable_after_failures,
        max_failing_s=settings.disable_after_s,
    )
