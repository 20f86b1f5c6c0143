"""Jobs as the API and the CLI see them: submit, read, cancel, retry, scoped to a tenant.

The caller owns the transaction (``db.engine.transaction``): a job row and the outbox
row that will publish it commit together or not at all, so a crash between commit and
publish loses nothing; the relay publishes the row later. Every state transition is
the job repository's (``db/jobs/``): ``submit``, ``cancel`` and ``retry`` are its own
(tenant-scoped), re-exported here with the keyset listing (``page``, ``db/jobs/listing.py``);
this module adds the tenant-checked read.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.orm import Session

from bookmarkai_ml.db import jobs as repository
from bookmarkai_ml.db.jobs import cancel, retry, submit
from bookmarkai_ml.db.jobs.listing import JobFilter, JobPage, page
from bookmarkai_ml.errors import NotFoundError
from bookmarkai_ml.ports import JobView, Submission

__all__ = [
    "JobFilter",
    "JobPage",
    "JobView",
    "Submission",
    "cancel",
    "family",
    "get",
    "page",
    "retry",
    "submit",
]


def get(session: Session, job_id: UUID, *, tenant_id: str | None = None) -> JobView:
    """The job with its result (if done).

    Raises:
        NotFoundError: no such job for this tenant.
    """
    view = repository.view(session, job_id)
    if tenant_id is not None and view.tenant_id != tenant_id:
        raise NotFoundError(f"job {job_id} not found")
    return view


def family(session: Session, roots: Sequence[UUID]) -> list[JobView]:
    """Every job in the chains started by ``roots`` (roots first, then their children)."""
    return repository.tree(session, roots)
