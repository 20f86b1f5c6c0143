"""A tenant's jobs, newest first, one keyset page at a time (``GET /api/ml/jobs``).

Why a walk never returns a job twice and never skips one that existed when it began:

- The order is ``created_at DESC, id DESC``: a strict total order (``id`` is unique and
  breaks ties between jobs of one transaction, which share ``created_at``), on values
  that never change after the insert. Each page is "the next ``limit`` rows strictly
  below the cursor", the cursor being the last row returned. So the pages cover
  adjacent, disjoint ranges of that order: a row is in exactly one of them.
- Inserts do not move other rows (as they do under ``OFFSET``, where a new row on the
  first page pushes a seen row onto the next page). A committed row's key is fixed, so
  every job committed before the walk began sits in exactly one page's range and is
  returned once.
- A job inserted during the walk has ``created_at = now()``, its *transaction's* start.
  Most such jobs sort above the first page and are not returned. A transaction that
  began before the walk but commits during it can land anywhere: below the cursor (it
  is returned, once) or above it (it is not returned). It is never returned twice,
  because no page reads above its cursor. A deleted job is simply absent.

Every page is one index range scan of ``ix_ml_jobs_tenant_created``
``(tenant_id, created_at DESC, id DESC)``; the row comparison
``(created_at, id) < (:at, :id)`` is the index's own order, so Postgres starts the scan at
the cursor instead of skipping rows (https://www.postgresql.org/docs/current/
functions-comparisons.html#ROW-WISE-COMPARISON).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from bookmarkai_ml.db.jobs.rows import view_of
from bookmarkai_ml.db.models import Job
from bookmarkai_ml.domain.keyset import Cursor
from bookmarkai_ml.errors import InvalidInputError
from bookmarkai_ml.ports import JobView

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Optional restrictions; ``since`` is an inclusive lower bound on ``created_at``."""

    share_id: str | None = None
    task: str | None = None
    status: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of jobs (without results) and the cursor of the next, if there is one."""

    jobs: list[JobView]
    next_cursor: Cursor | None


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken as UTC.

    Raises:
        InvalidInputError: the offset pushes it out of datetime's range.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInputError("since is out of range") from exc


def statement(
    *, tenant_id: str, filters: JobFilter, limit: int, after: Cursor | None
) -> Select[Job]:
    """The page's SELECT: one row more than ``limit`` tells whether another page follows.

    Raises:
        InvalidInputError: ``since`` is out of range.
    """
    stmt = select(Job).where(Job.tenant_id == tenant_id)
    if filters.share_id is not None:
        stmt = stmt.where(Job.share_id == filters.share_id)
    if filters.task is not None:
        stmt = stmt.where(Job.task == filters.task)
    if filters.status is not None:
        stmt = stmt.where(Job.status == filters.status)
    if filters.since is not None:
        stmt = stmt.where(Job.created_at >= _utc(filters.since))
    if after is not None:
        stmt = stmt.where(tuple_(Job.created_at, Job.id) < tuple_(after.created_at, after.id))
    return stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)


def page(
    session: Session,
    *,
    tenant_id: str,
    filters: JobFilter = JobFilter(),
    limit: int = DEFAULT_LIMIT,
    after: Cursor | None = None,
) -> JobPage:
    """The tenant's next ``limit`` jobs below ``after`` (from the newest when None).

    Raises:
        InvalidInputError: ``limit`` outside 1..MAX_LIMIT, or ``since`` out of range.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
    stmt = statement(tenant_id=tenant_id, filters=filters, limit=limit, after=after)
    rows = list(session.scalars(stmt))
    views = [view_of(job) for job in rows[:limit]]
    last = views[-1] if len(rows) > limit else None
    return JobPage(
        jobs=views,
        next_cursor=None if last is None else Cursor(created_at=last.created_at, id=last.id),
    )
