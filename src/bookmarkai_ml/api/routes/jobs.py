"""``/api/ml/jobs``: submit, list, read, cancel and retry jobs of the caller's tenant.

Another tenant's job answers 404, the same as a job that does not exist.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response, status
from fastapi.openapi.models import Example

from bookmarkai_ml.api.deps import PrincipalDep, SessionDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.schemas.job_list import (
    DEFAULT_LIMIT,
    CursorQuery,
    JobPage,
    JobState,
    LimitQuery,
    ShareIdQuery,
    SinceQuery,
)
from bookmarkai_ml.api.schemas.jobs import JobAccepted, JobCreate, JobPublic, JobsAccepted
from bookmarkai_ml.api.submission import submit
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.domain import keyset
from bookmarkai_ml.observability.spans import current_traceparent
from bookmarkai_ml.services import jobs

router = APIRouter(
    prefix="/api/ml/jobs", tags=["jobs"], responses=responses(401, 404, 422, 429, 503)
)


EXAMPLES: dict[str, Example] = {
    "summarize": {
        "summary": "Summarize text",
        "value": {
            "share_id": "article-1",
            "task": "summarize",
            "input": {"text": "Long article text ..."},
            "options": {"style": "bullets"},
        },
    },
    "enrich-media": {
        "summary": "Enrich a video: transcribe, then summarize and embed",
        "value": {
            "share_id": "video-7",
            "task": "enrich",
            "input": {"media_url": "https://cdn.example/talk.mp4"},
        },
    },
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobsAccepted,
    summary="Submit a job (or an enrich chain)",
)
def create_job(
    body: Annotated[JobCreate, Body(openapi_examples=EXAMPLES)],
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
) -> JobsAccepted:
    """Queue the job(s); an identical earlier submission returns its job with created=false."""
    done = submit(session, body, tenant_id=principal.tenant_id, traceparent=current_traceparent())
    response.headers["Location"] = f"{router.prefix}/{done[0].job.id}"
    return JobsAccepted(jobs=[JobAccepted.of_submission(s) for s in done])


@router.get("", response_model=JobPage, summary="List jobs, newest first")
def list_jobs(
    session: SessionDep,
    principal: PrincipalDep,
    share_id: ShareIdQuery = None,
    task: Annotated[TaskType | None, Query(description="Only this task.")] = None,
    status: Annotated[JobState | None, Query(description="Only this state.")] = None,
    since: SinceQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> JobPage:
    """The tenant's jobs without their results, keyset-paginated; a bad cursor is a 422.

    Every job that existed when the walk began is returned exactly once, even while jobs
    are being added (``db/jobs/listing.py`` says why).
    """
    filters = jobs.JobFilter(share_id=share_id, task=task, status=status, since=since)
    after = keyset.decode(cursor) if cursor is not None else None
    found = jobs.page(
        session, tenant_id=principal.tenant_id, filters=filters, limit=limit, after=after
    )
    return JobPage.of(found)


@router.get("/{job_id}", response_model=JobPublic, responses=responses(409), summary="Job status")
def get_job(job_id: UUID, session: SessionDep, principal: PrincipalDep) -> JobPublic:
    """Status, error code, retry-after and, once done, the result."""
    return JobPublic.of(jobs.get(session, job_id, tenant_id=principal.tenant_id))


@router.post(
    "/{job_id}/cancel", response_model=JobPublic, responses=responses(409), summary="Cancel"
)
def cancel_job(job_id: UUID, session: SessionDep, principal: PrincipalDep) -> JobPublic:
    """Cancel a queued or running job; 409 if it already ended."""
    return JobPublic.of(jobs.cancel(session, job_id, tenant_id=principal.tenant_id))


@router.post("/{job_id}/retry", response_model=JobPublic, responses=responses(409), summary="Retry")
def retry_job(job_id: UUID, session: SessionDep, principal: PrincipalDep) -> JobPublic:
    """Queue a failed, cancelled or budget-exceeded job again; 409 otherwise."""
    return JobPublic.of(jobs.retry(session, job_id, tenant_id=principal.tenant_id))
