"""``/api/ml/webhooks``: Standard Webhooks endpoints of the caller's tenant (docs/webhooks.md).

Another tenant's endpoint answers 404, the same as one that does not exist. Delivery
happens in the relay's process, never here.
"""

from __future__ import annotations

import functools
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from bookmarkai_ml.api.deps import PrincipalDep, SessionDep, SettingsDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.schemas.webhooks import (
    DeliveryLog,
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookPublic,
)
from bookmarkai_ml.media.ssrf import check_url
from bookmarkai_ml.services import webhooks
from bookmarkai_ml.services.webhooks import UrlCheck

router = APIRouter(
    prefix="/api/ml/webhooks", tags=["webhooks"], responses=responses(401, 404, 422, 429, 503)
)


def url_guard(settings: SettingsDep) -> UrlCheck:
    """The media SSRF guard with the media allow-list: one guard for every outbound URL."""
    return functools.partial(check_url, allowed_hosts=settings.media.allowed_hosts)


UrlGuardDep = Annotated[UrlCheck, Depends(url_guard)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    summary="Register an endpoint",
)
def create_webhook(
    body: WebhookCreate,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    guard: UrlGuardDep,
) -> WebhookCreated:
    """Register an endpoint; the answer carries its secret, shown only this once."""
    hook = webhooks.register(
        session,
        tenant_id=principal.tenant_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        check_url=guard,
    )
    response.headers["Location"] = f"{router.prefix}/{hook.id}"
    return WebhookCreated.created(hook)


@router.get("", response_model=WebhookList, summary="List endpoints")
def list_webhooks(session: SessionDep, principal: PrincipalDep) -> WebhookList:
    """The tenant's endpoints, oldest first, enabled or not."""
    hooks = webhooks.list_for(session, tenant_id=principal.tenant_id)
    return WebhookList(webhooks=[WebhookPublic.of(h) for h in hooks])


@router.get("/{webhook_id}", response_model=WebhookPublic, summary="Read an endpoint")
def get_webhook(webhook_id: UUID, session: SessionDep, principal: PrincipalDep) -> WebhookPublic:
    """The endpoint, and why it was disabled if it was."""
    return WebhookPublic.of(webhooks.get(session, webhook_id, tenant_id=principal.tenant_id))


@router.post("/{webhook_id}/enable", response_model=WebhookPublic, summary="Enable again")
def enable_webhook(webhook_id: UUID, session: SessionDep, principal: PrincipalDep) -> WebhookPublic:
    """Enable an endpoint that was disabled for failing, once its receiver is fixed; the
    same id and secret keep working. A no-op for an enabled endpoint."""
    return WebhookPublic.of(webhooks.enable(session, webhook_id, tenant_id=principal.tenant_id))


@router.delete(
    "/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an endpoint"
)
def delete_webhook(webhook_id: UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    """Delete the endpoint with its delivery log; nothing more is sent to it."""
    webhooks.delete(session, webhook_id, tenant_id=principal.tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryLog, summary="Delivery log")
def list_deliveries(
    webhook_id: UUID,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Only deliveries with a smaller id.")
    ] = None,
) -> DeliveryLog:
    """Every delivery, newest first: status, attempts, next attempt, last answer, each try."""
    found = webhooks.deliveries(
        session, webhook_id, tenant_id=principal.tenant_id, limit=limit, before=before
    )
    page = [DeliveryPublic.of(d, attempts) for d, attempts in found]
    return DeliveryLog(deliveries=page, next_before=page[-1].id if len(page) == limit else None)
