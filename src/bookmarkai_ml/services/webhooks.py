"""Webhook endpoints of a tenant: register, list, read, delete, and the delivery log.

Every call is scoped by ``tenant_id``: another tenant's endpoint is ``NotFoundError``,
the same as one that does not exist. The caller owns the transaction. The URL check
(the media SSRF guard with its allow-list) is passed in by the entry point, since
services do not build adapters.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bookmarkai_ml.db.models import Webhook, WebhookAttempt, WebhookDelivery
from bookmarkai_ml.errors import NotFoundError

#: Checks a URL and raises ``UnsafeURLError`` if it may not be called.
UrlCheck = Callable[[str], object]
#: Standard Webhooks secrets are 24 to 64 random bytes, base64, prefixed ``whsec_``.
SECRET_BYTES = 32

Delivery = tuple[WebhookDelivery, list[WebhookAttempt]]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def register(
    session: Session,
    *,
    tenant_id: str,
    url: str,
    event_types: Sequence[str],
    description: str | None,
    check_url: UrlCheck,
) -> Webhook:
    """A new enabled endpoint with a fresh secret.

    Raises:
        UnsafeURLError: the URL's scheme or any address it resolves to is not allowed.
    """
    check_url(url)
    hook = Webhook(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        url=url,
        event_types=sorted(set(event_types)),
        secret=new_secret(),
        description=description,
        enabled=True,
    )
    session.add(hook)
    session.flush()
    session.refresh(hook)  # created_at comes from the database
    return hook


def list_for(session: Session, *, tenant_id: str) -> list[Webhook]:
    stmt = select(Webhook).where(Webhook.tenant_id == tenant_id).order_by(Webhook.created_at)
    return list(session.scalars(stmt))


def get(session: Session, webhook_id: uuid.UUID, *, tenant_id: str) -> Webhook:
    """Raises: NotFoundError: no such endpoint for this tenant."""
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.tenant_id != tenant_id:
        raise NotFoundError(f"webhook {webhook_id} not found")
    return hook


def enable(session: Session, webhook_id: uuid.UUID, *, tenant_id: str) -> Webhook:
    """Enable an endpoint again (its receiver was fixed). ``disabled_at`` stays as the
    last time it was disabled: the disable policy counts only failures after it, so
    the old failures do not disable it again at once. Deliveries abandoned while it
    was disabled stay failed; events from now on are delivered.

    Raises: NotFoundError: no such endpoint for this tenant."""
    hook = get(session, webhook_id, tenant_id=tenant_id)
    hook.enabled = True
    hook.disabled_reason = None
    session.flush()
    return hook


def delete(session: Session, webhook_id: uuid.UUID, *, tenant_id: str) -> None:
    """Delete the endpoint with its deliveries and attempts.

    Raises: NotFoundError: no such endpoint for this tenant."""
    session.delete(get(session, webhook_id, tenant_id=tenant_id))
    session.flush()


def deliveries(
    session: Session,
    webhook_id: uuid.UUID,
    *,
    tenant_id: str,
    limit: int,
    before: int | None = None,
) -> list[Delivery]:
    """The endpoint's deliveries, newest first, each with its attempts (oldest first).

    Raises: NotFoundError: no such endpoint for this tenant."""
    get(session, webhook_id, tenant_id=tenant_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    rows = list(session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit)))
    attempts: dict[int, list[WebhookAttempt]] = {row.id: [] for row in rows}
    if rows:
        found = session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(attempt)
    return [(row, attempts[row.id]) for row in rows]
