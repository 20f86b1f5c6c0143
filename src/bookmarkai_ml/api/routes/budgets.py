"""``/api/ml/analytics/budgets/tenants``: per-tenant budget windows (admin keys only).

A tenant window is the resource ``{tenant}/{task}/{window}``: ``PUT`` sets its limit
(create or change, idempotent), ``DELETE`` removes it; ``GET`` and ``DELETE`` on
``{tenant}`` list or remove all of one tenant's. Jobs reserve against these next to the
global windows of the settings (``services.budgets``). A key without ``admin`` gets 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from bookmarkai_ml.api.deps import AdminDep, SessionDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.schemas.budgets import (
    BudgetLimitPublic,
    BudgetLimitSet,
    BudgetLimitsPublic,
    TenantPath,
)
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.domain.budgets import parse_window
from bookmarkai_ml.errors import InvalidInputError, NotFoundError
from bookmarkai_ml.services import budget_limits

router = APIRouter(prefix="/budgets/tenants", responses=responses(403))

TaskPath = Annotated[TaskType, Path(description="The task type the window limits.")]
WindowPath = Annotated[
    str,
    Path(
        pattern=r"^([0-9]{1,8}[smhd]?|hour|day)$",
        description="Window length: 1h, 1d, 30m, 90s, seconds (3600), hour or day.",
        examples=["1h"],
    ),
]


def _seconds(window: str) -> int:
    try:
        return parse_window(window)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc


@router.get("", response_model=BudgetLimitsPublic, summary="Every tenant's budget windows")
def list_all(session: SessionDep, _: AdminDep) -> BudgetLimitsPublic:
    """All per-tenant windows, by tenant, task and window length."""
    limits = budget_limits.list_limits(session)
    return BudgetLimitsPublic(limits=[BudgetLimitPublic.of(i) for i in limits])


@router.get("/{tenant}", response_model=BudgetLimitsPublic, summary="A tenant's budget windows")
def list_tenant(session: SessionDep, _: AdminDep, tenant: TenantPath) -> BudgetLimitsPublic:
    """One tenant's windows (an empty list when it has none: only the global ones apply)."""
    limits = budget_limits.list_limits(session, tenant_id=tenant)
    return BudgetLimitsPublic(limits=[BudgetLimitPublic.of(i) for i in limits])


@router.put(
    "/{tenant}/{task}/{window}",
    response_model=BudgetLimitPublic,
    summary="Set a tenant's budget window",
)
def put_window(
    session: SessionDep,
    _: AdminDep,
    tenant: TenantPath,
    task: TaskPath,
    window: WindowPath,
    body: BudgetLimitSet,
) -> BudgetLimitPublic:
    """Create or change the tenant's limit for ``task`` over the rolling ``window``."""
    info = budget_limits.set_limit(
        session, tenant_id=tenant, task=task.value, window_s=_seconds(window), usd=body.usd
    )
    return BudgetLimitPublic.of(info)


@router.delete(
    "/{tenant}/{task}/{window}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(404),
    summary="Remove a tenant's budget window",
)
def delete_window(
    session: SessionDep, _: AdminDep, tenant: TenantPath, task: TaskPath, window: WindowPath
) -> Response:
    """Remove one window; 404 when the tenant has no such window."""
    removed = budget_limits.clear(
        session, tenant_id=tenant, task=task.value, window_s=_seconds(window)
    )
    if not removed:
        raise NotFoundError(f"tenant {tenant} has no {task.value} window of {window}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{tenant}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a tenant's windows"
)
def delete_tenant(session: SessionDep, _: AdminDep, tenant: TenantPath) -> Response:
    """Remove every window of the tenant (idempotent); the global windows still apply."""
    budget_limits.clear(session, tenant_id=tenant)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
