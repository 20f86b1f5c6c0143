"""``GET /api/ml/search``: similarity search over the caller's tenant's embedded content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bookmarkai_ml.api.deps import PrincipalDep, SearchDep, SessionDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.schemas.params import IsoDateTime
from bookmarkai_ml.api.schemas.search import SearchHitPublic, SearchResults
from bookmarkai_ml.db.embeddings import SearchFilters
from bookmarkai_ml.services.search import MAX_K

router = APIRouter(prefix="/api/ml", tags=["search"])

#: Postgres text cannot hold NUL; refuse it in the schema rather than fail in SQL.
_NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, Query(min_length=1, max_length=2000, pattern=_NO_NUL)]
Ids = Annotated[list[Annotated[str, Query(max_length=200, pattern=_NO_NUL)]] | None, Query()]


@router.get(
    "/search",
    response_model=SearchResults,
    responses=responses(401, 404, 422, 429, 503),
    summary="Similarity search",
)
def search(
    service: SearchDep,
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[Text | None, Query(description="Text to look for.")] = None,
    like: Annotated[Text | None, Query(description="Or: a share id; finds similar items.")] = None,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many items.")] = 10,
    model: Annotated[Text | None, Query(description="Embedding model; default: stored.")] = None,
    share_id: Annotated[Ids, Query(description="Only these shares.")] = None,
    source_kind: Annotated[Ids, Query(description="Only these kinds (video, post...).")] = None,
    created_from: Annotated[IsoDateTime | None, Query(description="Embedded at or after.")] = None,
    created_to: Annotated[IsoDateTime | None, Query(description="Embedded before.")] = None,
    hybrid: Annotated[bool, Query(description="Fuse in full-text ranking (RRF).")] = False,
    per_share: Annotated[bool, Query(description="One hit per share (its best).")] = True,
) -> SearchResults:
    """The ``k`` items nearest to ``q`` (or to the share ``like``); give exactly one of them."""
    filters = SearchFilters(
        share_ids=share_id,
        source_kinds=source_kind,
        created_from=created_from,
        created_to=created_to,
    )
    hits = service.search(
        session,
        q,
        like_share_id=like,
        tenant_id=principal.tenant_id,
        k=k,
        model=model,
        filters=filters,
        hybrid=hybrid,
        per_share=per_share,
    )
    return SearchResults(
        hits=[SearchHitPublic.model_validate(h, from_attributes=True) for h in hits]
    )
