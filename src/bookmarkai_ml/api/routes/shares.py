"""``GET /api/ml/shares/{share_id}``: everything known about one share of the caller's tenant.

Another tenant's share answers 404, the same as a share without jobs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from bookmarkai_ml.api.deps import PrincipalDep, SessionDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.schemas.shares import SharePublic
from bookmarkai_ml.services import shares

router = APIRouter(
    prefix="/api/ml/shares", tags=["shares"], responses=responses(401, 404, 422, 429, 503)
)

#: As ``ShareId`` in the submission schema; Postgres text cannot hold NUL.
ShareIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]*$",
        description="The saved item's id.",
        openapi_examples={"video": {"summary": "A shared video", "value": "video-7"}},
    ),
]


@router.get("/{share_id}", response_model=SharePublic, summary="Everything about one share")
def get_share(share_id: ShareIdPath, session: SessionDep, principal: PrincipalDep) -> SharePublic:
    """The latest transcript, summary and tags, the stored vectors, every job and the total
    cost of the share; 404 if the caller's tenant has no job for it."""
    return SharePublic.of(
        shares.share_view(session, tenant_id=principal.tenant_id, share_id=share_id)
    )
