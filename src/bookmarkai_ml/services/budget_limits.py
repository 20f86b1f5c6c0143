"""Per-tenant budget windows (``ml_budget_limits``): set, list and clear.

A tenant's windows apply next to the global ones of ``settings.tasks``; the ledger
(``services.budgets``) reserves every job against both. One row per (tenant, task,
window length); setting an existing window changes its limit. The caller owns the
transaction (``db.engine.transaction``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.db.models import BudgetLimit
from bookmarkai_ml.domain.budgets import MAX_WINDOW_S, window_name
from bookmarkai_ml.errors import InvalidInputError

#: ``numeric(14, 8)``: the largest limit the column holds.
MAX_USD = Decimal("999999.99999999")


@dataclass(frozen=True, slots=True)
class BudgetLimitInfo:
    """One tenant's spend limit for one task over one rolling window."""

    tenant_id: str
    task: str
    window: str
    window_s: int
    usd: Decimal
    created_at: datetime

    @classmethod
    def of(cls, row: BudgetLimit) -> BudgetLimitInfo:
        return cls(
            tenant_id=row.tenant_id,
            task=row.task,
            window=window_name(row.window_s),
            window_s=row.window_s,
            usd=Decimal(row.usd),
            created_at=row.created_at,
        )


def _check(tenant_id: str, task: str, window_s: int | None) -> None:
    if not 0 < len(tenant_id) <= 100 or "\x00" in tenant_id:
        raise InvalidInputError("tenant must be 1-100 characters, without NUL")
    if task not in {t.value for t in TaskType}:
        raise InvalidInputError(f"unknown task {task!r}: summarize, transcribe or embed")
    if window_s is not None and not 0 < window_s <= MAX_WINDOW_S:
        raise InvalidInputError(f"window must be 1 to {MAX_WINDOW_S} seconds")


def set_limit(
    session: Session, *, tenant_id: str, task: str, window_s: int, usd: Decimal
) -> BudgetLimitInfo:
    """Create or change ``tenant_id``'s limit of ``usd`` per ``window_s`` for ``task``.

    Raises:
        InvalidInputError: an empty or over-long tenant, an unknown task, a window out of
            range, or a negative or too large amount.
    """
    _check(tenant_id, task, window_s)
    if not Decimal(0) <= usd <= MAX_USD or not usd.is_finite():
        raise InvalidInputError(f"usd must be 0 to {MAX_USD}")
    stmt = insert(BudgetLimit).values(tenant_id=tenant_id, task=task, window_s=window_s, usd=usd)
    stmt = stmt.on_conflict_do_update(
        index_elements=[BudgetLimit.tenant_id, BudgetLimit.task, BudgetLimit.window_s],
        set_={"usd": stmt.excluded.usd},
    )
    session.execute(stmt)
    row = session.get_one(BudgetLimit, (tenant_id, task, window_s), populate_existing=True)
    return BudgetLimitInfo.of(row)


def list_limits(session: Session, *, tenant_id: str | None = None) -> list[BudgetLimitInfo]:
    """Every tenant's limits (or ``tenant_id``'s), by tenant, task and window length."""
    stmt = select(BudgetLimit).order_by(
        BudgetLimit.tenant_id, BudgetLimit.task, BudgetLimit.window_s
    )
    if tenant_id is not None:
        stmt = stmt.where(BudgetLimit.tenant_id == tenant_id)
    return [BudgetLimitInfo.of(row) for row in session.scalars(stmt)]


def clear(
    session: Session, *, tenant_id: str, task: str | None = None, window_s: int | None = None
) -> int:
    """Remove ``tenant_id``'s limits (of ``task``, of one ``window_s``); how many went.

    Raises:
        InvalidInputError: an unknown task or a window out of range.
    """
    _check(tenant_id, task or TaskType.SUMMARIZE.value, window_s)
    stmt = delete(BudgetLimit).where(BudgetLimit.tenant_id == tenant_id)
    if task is not None:
        stmt = stmt.where(BudgetLimit.task == task)
    if window_s is not None:
        stmt = stmt.where(BudgetLimit.window_s == window_s)
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]
