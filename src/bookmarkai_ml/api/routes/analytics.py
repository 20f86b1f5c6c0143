"""``/api/ml/analytics``: spend and task performance (views), and budget status (ledger).

A tenant key sees only its own tenant: its spend, its performance and its own budget
windows. A key with the ``admin`` scope sees the whole platform (the global windows and
every tenant's), or one tenant with ``?tenant=``; it also manages the per-tenant windows
(``routes/budgets.py``, under ``/budgets/tenants``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bookmarkai_ml.api.deps import PrincipalDep, SessionDep, SettingsDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.routes import budgets as tenant_budgets
from bookmarkai_ml.api.schemas.analytics import BudgetsPublic, CostsPublic
from bookmarkai_ml.api.schemas.budgets import TenantQuery
from bookmarkai_ml.api.schemas.params import IsoDate
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.services import analytics
from bookmarkai_ml.services.budgets import budget_status

router = APIRouter(
    prefix="/api/ml/analytics", tags=["analytics"], responses=responses(401, 403, 422, 429, 503)
)


@router.get("/costs", response_model=CostsPublic, summary="Cost analytics")
def costs(
    session: SessionDep,
    principal: PrincipalDep,
    since: Annotated[
        IsoDate | None, Query(description="First UTC day; default 30 days ago.")
    ] = None,
    until: Annotated[IsoDate | None, Query(description="Last UTC day; default today.")] = None,
    task: Annotated[TaskType | None, Query(description="Only this task type.")] = None,
    refresh: Annotated[bool, Query(description="Refresh the views first.")] = False,
    tenant: TenantQuery = None,
) -> CostsPublic:
    """Spend by day, task and provider/model, plus success rate and p50/p95 per task.

    The caller's tenant only, or the whole platform for an admin key. The views are
    refreshed on a schedule; ``refresh=true`` refreshes them now.
    """
    report = analytics.costs(
        session,
        since=since,
        until=until,
        task=task.value if task else None,
        tenant=principal.tenant_scope(tenant),
        refresh_first=refresh,
    )
    return CostsPublic.of(report)


@router.get("/budgets", response_model=BudgetsPublic, summary="Budget status")
def budgets(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    task: Annotated[TaskType | None, Query(description="Only this task type.")] = None,
    tenant: TenantQuery = None,
) -> BudgetsPublic:
    """Spent, reserved and remaining USD, and when each window resets, per task type.

    A tenant key sees its own windows (with its own spend). An admin key sees the
    global windows (platform-wide spend) and every tenant's, or with ``?tenant=`` the
    global windows and that tenant's: everything a job of that tenant reserves against.
    """
    scope = principal.tenant_scope(tenant)
    windows = budget_status(
        session,
        settings.tasks,
        [task.value] if task else None,
        tenant=scope,
        include_global=principal.admin,
    )
    return BudgetsPublic.model_validate({"windows": windows}, from_attributes=True)


router.include_router(tenant_budgets.router)
