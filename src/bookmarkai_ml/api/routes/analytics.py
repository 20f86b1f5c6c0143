"""``/api/ml/analytics``: spend and task performance (views), and budget status (ledger).

Both are platform-wide, not per tenant: the views and the budget windows are global.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from bookmarkai_ml.api.deps import PrincipalDep, SessionDep, SettingsDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.schemas.analytics import BudgetsPublic, CostsPublic
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.services import analytics
from bookmarkai_ml.services.budgets import budget_status

router = APIRouter(
    prefix="/api/ml/analytics", tags=["analytics"], responses=responses(401, 422, 429, 503)
)


@router.get("/costs", response_model=CostsPublic, summary="Cost analytics")
def costs(
    session: SessionDep,
    _: PrincipalDep,
    since: Annotated[date | None, Query(description="First UTC day; default 30 days ago.")] = None,
    until: Annotated[date | None, Query(description="Last UTC day; default today.")] = None,
    task: Annotated[TaskType | None, Query(description="Only this task type.")] = None,
    refresh: Annotated[bool, Query(description="Refresh the views first.")] = False,
) -> CostsPublic:
    """Spend by day, task and provider/model, plus success rate and p50/p95 per task.

    The views are refreshed on a schedule; ``refresh=true`` refreshes them now.
    """
    report = analytics.costs(
        session, since=since, until=until, task=task.value if task else None, refresh_first=refresh
    )
    return CostsPublic.of(report)


@router.get("/budgets", response_model=BudgetsPublic, summary="Budget status")
def budgets(
    session: SessionDep,
    settings: SettingsDep,
    _: PrincipalDep,
    task: Annotated[TaskType | None, Query(description="Only this task type.")] = None,
) -> BudgetsPublic:
    """Spent, reserved and remaining USD, and when each window resets, per task type."""
    windows = budget_status(session, settings.tasks, [task.value] if task else None)
    return BudgetsPublic.model_validate({"windows": windows}, from_attributes=True)
