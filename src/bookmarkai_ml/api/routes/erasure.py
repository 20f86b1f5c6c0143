"""``DELETE /api/ml/shares/{share_id}``: erase one share of the caller's tenant.

Idempotent: erasing a share again (or one we never saw) answers 200 with what this call
removed, and refreshes the tombstone. The service owns its transaction, because the
media objects are deleted only after the rows' erasure commits (``services/erasure.py``).
"""

from __future__ import annotations

from fastapi import APIRouter

from bookmarkai_ml import bootstrap
from bookmarkai_ml.api.deps import ContextDep, PrincipalDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.routes.shares import ShareIdPath
from bookmarkai_ml.api.schemas.erasure import ErasurePublic
from bookmarkai_ml.services.erasure import ErasureService

router = APIRouter(
    prefix="/api/ml/shares", tags=["shares"], responses=responses(401, 422, 429, 503)
)


@router.delete("/{share_id}", response_model=ErasurePublic, summary="Erase a share's data")
def erase_share(share_id: ShareIdPath, ctx: ContextDep, principal: PrincipalDep) -> ErasurePublic:
    """Cancel the share's unfinished jobs; delete its results, embeddings and media; blank
    its job inputs, messages, webhook deliveries and dead letters; keep its cost rows; and
    leave a tombstone so no worker writes for it again. Returns what was removed."""
    service = ErasureService(ctx.sessions, bootstrap.media_store(ctx.settings))
    return ErasurePublic.of(service.forget(tenant_id=principal.tenant_id, share_id=share_id))
