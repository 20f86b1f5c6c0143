"""``GET /api/ml/search``: similarity search over the caller's embedded content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bookmarkai_ml.api.context import not_configured
from bookmarkai_ml.api.deps import PrincipalDep, SessionDep
from bookmarkai_ml.api.problems import responses

router = APIRouter(prefix="/api/ml", tags=["search"])


@router.get("/search", responses=responses(401, 422, 429, 503), summary="Similarity search")
def search(
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for.")],
    k: Annotated[int, Query(ge=1, le=100, description="How many hits.")] = 10,
) -> None:
    """Not wired yet: the search service is not available in this build."""
    raise not_configured("search")
