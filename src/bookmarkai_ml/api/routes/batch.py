"""``POST /api/ml/jobs/batch``: up to 100 submissions in one transaction, answered per item.

Each item is validated and submitted as ``POST /api/ml/jobs`` would (same idempotency
key), inside a SAVEPOINT of the request's one transaction: accepted items and their
outbox rows commit together, and a rejected item rolls back nothing but itself. The
rate limiter counts requests, so a batch is one request; the body-size limit applies
to the whole batch (413).
"""

from __future__ import annotations

from fastapi import APIRouter, status

from bookmarkai_ml.api.deps import PrincipalDep, SessionDep
from bookmarkai_ml.api.problems import Problem, responses
from bookmarkai_ml.api.schemas.batch import BatchCreate, BatchItem, BatchResult, ItemStatus
from bookmarkai_ml.api.schemas.jobs import JobAccepted
from bookmarkai_ml.api.submission import submit_item
from bookmarkai_ml.observability.spans import current_traceparent
from bookmarkai_ml.services.jobs import Submission

router = APIRouter(prefix="/api/ml/jobs", tags=["jobs"])


def _item(index: int, done: list[Submission] | Problem) -> BatchItem:
    if isinstance(done, Problem):
        return BatchItem(index=index, status=ItemStatus.REJECTED, problem=done)
    created = any(s.created for s in done)
    return BatchItem(
        index=index,
        status=ItemStatus.ACCEPTED if created else ItemStatus.DUPLICATE,
        jobs=[JobAccepted.of_submission(s) for s in done],
    )


@router.post(
    "/batch",
    status_code=status.HTTP_200_OK,
    response_model=BatchResult,
    responses=responses(400, 401, 413, 422, 429, 503),
    summary="Submit up to 100 jobs at once",
)
def create_batch(body: BatchCreate, session: SessionDep, principal: PrincipalDep) -> BatchResult:
    """Queue every valid item in one transaction; the answer lists each item's fate in order."""
    traceparent = current_traceparent()
    items = [
        _item(i, submit_item(session, raw, tenant_id=principal.tenant_id, traceparent=traceparent))
        for i, raw in enumerate(body.items)
    ]
    return BatchResult(
        accepted=sum(i.status is ItemStatus.ACCEPTED for i in items),
        duplicates=sum(i.status is ItemStatus.DUPLICATE for i in items),
        rejected=sum(i.status is ItemStatus.REJECTED for i in items),
        items=items,
    )
