"""Webhook deliveries in the caller's transaction: one pending delivery per matching
endpoint, written with the event it carries, so no event is lost and none is sent for a
rolled-back change (docs/webhooks.md)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# An endpoint matches when it is enabled and its filter is empty or names the event type.
_FAN_OUT = text(
    """
    INSERT INTO ml_webhook_deliveries (webhook_id, tenant_id, share_id, event_id, event_type, body)
    SELECT w.id, w.tenant_id, :share_id, :event_id, CAST(:event_type AS text),
        CAST(:body AS jsonb)
    FROM ml_webhooks w
    WHERE w.tenant_id = :tenant_id AND w.enabled
      AND (w.event_types = '[]'::jsonb OR w.event_types ? CAST(:event_type AS text))
    ON CONFLICT (webhook_id, event_id) DO NOTHING
    """
)


def fan_out(
    session: Session, *, tenant_id: str, share_id: str | None, event: dict[str, Any]
) -> int:
    """Queue ``event`` (a CloudEvent, structured JSON) for every matching endpoint of the
    tenant; returns how many deliveries were queued. The event's ``id`` becomes the
    ``webhook-id``, so a redelivery of the same event carries the same id."""
    params = {
        "tenant_id": tenant_id,
        "share_id": share_id,
        "event_id": str(event["id"]),
        "event_type": str(event["type"]),
        "body": json.dumps(event, separators=(",", ":")),
    }
    return int(session.execute(_FAN_OUT, params).rowcount)  # type: ignore[attr-defined]
