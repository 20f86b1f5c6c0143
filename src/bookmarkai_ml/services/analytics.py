"""Cost and task-performance analytics, read from the materialized views.

``ml_cost_by_day`` (cost by day, task, provider, model) and ``ml_task_performance``
(count, outcomes, success rate, p50/p95 duration per task) are defined in migration
0001 and hold, since 0002, one set of rows per tenant and one for the whole platform
(``tenant_id`` ''), so a tenant's answer and the platform's are the same query.
Reading a view is cheap and never blocks the workers writing ``ml_costs``;
the price is staleness, so the API refreshes them on a schedule
(``settings.budgets.analytics_refresh_s``, :class:`Refresher`) and on demand
(:func:`refresh`). ``ml_refresh_analytics()`` uses ``REFRESH ... CONCURRENTLY``,
which keeps the views readable while it runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import RowMapping, text
from sqlalchemy.orm import Session

from bookmarkai_ml.db.engine import SessionFactory, transaction, translate_db_errors
from bookmarkai_ml.errors import BookmarkAIError, InvalidInputError

log = logging.getLogger(__name__)

#: The views' ``tenant_id`` of the whole-platform rows (no key's tenant is '').
PLATFORM = ""


@dataclass(frozen=True, slots=True)
class CostRow:
    """Spend of one (day, task, provider, model)."""

    day: date
    task: str
    provider: str
    model: str
    jobs: int
    usd: Decimal
    input_tokens: int
    output_tokens: int
    audio_seconds: float


@dataclass(frozen=True, slots=True)
class CostTotal:
    """Spend summed over one dimension value (a task, or a provider/model)."""

    key: str
    jobs: int
    usd: Decimal


@dataclass(frozen=True, slots=True)
class TaskPerformance:
    """Outcomes and run time of one task type."""

    task: str
    jobs: int
    done: int
    failed: int
    cancelled: int
    budget_exceeded: int
    success_rate: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None


@dataclass(frozen=True, slots=True)
class CostReport:
    """Everything the costs endpoint and the ``costs`` command show."""

    since: date
    until: date
    total_usd: Decimal
    by_day: list[CostRow]
    by_task: list[CostTotal]
    by_model: list[CostTotal]
    performance: list[TaskPerformance]
    tenant_id: str | None = None  # whose spend; None is the whole platform


_COSTS = text(
    """
    SELECT day::date AS day, task, provider, model, jobs, usd,
           input_tokens, output_tokens, audio_seconds
    FROM ml_cost_by_day
    WHERE tenant_id = :scope AND day >= :since AND day < :until
      AND (CAST(:task AS text) IS NULL OR task = :task)
    ORDER BY day, task, provider, model
    """
)
_PERFORMANCE = text(
    """
    SELECT task, jobs, done, failed, cancelled, budget_exceeded,
           success_rate, p50_duration_s, p95_duration_s
    FROM ml_task_performance WHERE tenant_id = :scope ORDER BY task
    """
)


def _totals(rows: list[CostRow], key: Callable[[CostRow], str]) -> list[CostTotal]:
    sums: dict[str, tuple[int, Decimal]] = {}
    for row in rows:
        jobs, usd = sums.get(key(row), (0, Decimal(0)))
        sums[key(row)] = (jobs + row.jobs, usd + row.usd)
    return [CostTotal(key=k, jobs=j, usd=u) for k, (j, u) in sorted(sums.items())]


def _cost_row(row: RowMapping) -> CostRow:
    """A view row with its numeric columns as Python types (``numeric`` -> Decimal/float)."""
    return CostRow(
        day=row["day"],
        task=row["task"],
        provider=row["provider"],
        model=row["model"],
        jobs=int(row["jobs"]),
        usd=Decimal(row["usd"]),
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        audio_seconds=float(row["audio_seconds"]),
    )


def _as_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def costs(
    session: Session,
    *,
    since: date | None = None,
    until: date | None = None,
    task: str | None = None,
    tenant: str | None = None,
    refresh_first: bool = False,
    today: date | None = None,
) -> CostReport:
    """Spend per day/task/model between ``since`` and ``until`` (inclusive, UTC days),
    of ``tenant`` only or (``None``) of the whole platform.

    Defaults to the last 30 days. Task performance covers all time. With
    ``refresh_first`` the views are recomputed first, in the same transaction.

    Raises:
        InvalidInputError: ``since`` is after ``until``.
        DatabaseUnavailableError: the database is unreachable.
    """
    try:
        until = until or today or datetime.now(UTC).date()
        since = since or until - timedelta(days=29)
        params = {"since": _as_utc(since), "until": _as_utc(until + timedelta(days=1))}
    except OverflowError as exc:
        raise InvalidInputError("dates out of range") from exc
    if since > until:
        raise InvalidInputError("since must not be after until")
    if refresh_first:
        refresh(session)
    scope = PLATFORM if tenant is None else tenant
    with translate_db_errors():
        by_day = [
            _cost_row(row._mapping)
            for row in session.execute(_COSTS, {**params, "task": task, "scope": scope})
        ]
        performance = [
            TaskPerformance(**row._mapping)
            for row in session.execute(_PERFORMANCE, {"scope": scope})
        ]
    return CostReport(
        since=since,
        until=until,
        total_usd=sum((r.usd for r in by_day), Decimal(0)),
        by_day=by_day,
        by_task=_totals(by_day, lambda r: r.task),
        by_model=_totals(by_day, lambda r: f"{r.provider}/{r.model}"),
        performance=performance,
        tenant_id=tenant,
    )


def refresh(session: Session) -> None:
    """Recompute both views now (``ml_refresh_analytics()``).

    Raises:
        DatabaseUnavailableError: the database is unreachable.
    """
    with translate_db_errors():
        session.execute(text("SELECT ml_refresh_analytics()"))


#: Scheduled refreshes of several API replicas take turns on this advisory lock.
_REFRESH_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('ml_refresh_analytics'))")


class Refresher:
    """Refreshes the views at start and every ``interval_s`` inside the API process.

    With several API replicas, a replica that finds another one refreshing skips its
    turn instead of queueing a second identical refresh behind it.
    """

    def __init__(self, sessions: SessionFactory, *, interval_s: float) -> None:
        self._sessions = sessions
        self._interval_s = interval_s

    def refresh_now(self) -> bool:
        """One refresh in its own transaction; False if another process was refreshing."""
        with transaction(self._sessions) as session:
            with translate_db_errors():
                if not session.execute(_REFRESH_LOCK).scalar_one():
                    return False
            refresh(session)
            return True

    async def run(self) -> None:
        """Loop until cancelled; a failed refresh is logged and tried again next period."""
        while True:
            try:
                await asyncio.to_thread(self.refresh_now)
            except BookmarkAIError as exc:
                log.warning("analytics refresh failed: %s", exc.code)
            except Exception as exc:  # keep the loop alive; the next period tries again
                log.warning("analytics refresh failed: %s", type(exc).__name__)
            await asyncio.sleep(self._interval_s)
