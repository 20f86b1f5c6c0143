"""``POST /api/ml/shares/{share_id}/reprocess``: run a share's tasks again, done jobs or not.

The new jobs' idempotency keys are salted with a reprocess generation, so they do not
collapse onto the done jobs of the same input and options. With an ``Idempotency-Key``
header the generation is that key: repeating the request returns the same jobs
(``created: false``) instead of submitting twice. Without it every call is a new
generation. A share with no job of the caller's tenant is 404; a task with no input given
and none stored to reuse is 409 ``no_stored_input`` (the request is well formed, the
share's state cannot feed it: e.g. its transcript is not done yet).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, status

from bookmarkai_ml.api.deps import PrincipalDep, SessionDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.schemas.jobs import JobAccepted, MediaInput, ShareId, TextInput
from bookmarkai_ml.api.schemas.reprocess import ReprocessAccepted, ReprocessCreate
from bookmarkai_ml.api.submission import check_media_url, submit_planned
from bookmarkai_ml.db.jobs.latest import latest_payloads
from bookmarkai_ml.domain.reprocess import plan_reprocess
from bookmarkai_ml.errors import NotFoundError
from bookmarkai_ml.observability.spans import current_traceparent

router = APIRouter(prefix="/api/ml/shares", tags=["shares"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a reprocess safely: the same key returns the same jobs.",
    ),
]


@router.post(
    "/{share_id}/reprocess",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReprocessAccepted,
    responses=responses(400, 401, 404, 409, 413, 422, 429, 503),
    summary="Run a share's tasks again (new model, new options)",
)
def reprocess_share(
    share_id: Annotated[ShareId, Path()],
    body: ReprocessCreate,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKey = None,
) -> ReprocessAccepted:
    """Queue the tasks again for the share, on its latest input unless new input is given."""
    latest = latest_payloads(session, tenant_id=principal.tenant_id, share_id=share_id)
    if not latest:
        raise NotFoundError(f"share {share_id!r} has no jobs")
    given = body.input
    planned = plan_reprocess(
        tenant_id=principal.tenant_id,
        share_id=share_id,
        tasks=[t.value for t in body.tasks],
        latest=latest,
        text=given.text if isinstance(given, TextInput) else None,
        media_url=check_media_url(given.media_url) if isinstance(given, MediaInput) else None,
        summarize=body.options.summarize,
        transcribe=body.options.transcribe,
        embed=body.options.embed,
    )
    generation = f"key:{idempotency_key}" if idempotency_key else uuid.uuid4().hex
    done = submit_planned(session, planned, traceparent=current_traceparent(), nonce=generation)
    return ReprocessAccepted(
        generation=generation, jobs=[JobAccepted.of_submission(s) for s in done]
    )
