"""Cost analytics and budget status answers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from bookmarkai_ml.services.analytics import CostReport


class CostDay(BaseModel):
    day: date
    task: str
    provider: str
    model: str
    jobs: int
    usd: Decimal
    input_tokens: int
    output_tokens: int
    audio_seconds: float


class CostTotalPublic(BaseModel):
    key: str = Field(description="A task, or provider/model.")
    jobs: int
    usd: Decimal


class TaskPerformancePublic(BaseModel):
    task: str
    jobs: int
    done: int
    failed: int
    cancelled: int
    budget_exceeded: int
    success_rate: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None


class CostsPublic(BaseModel):
    """Spend by day, task and model, and task performance (from materialized views)."""

    tenant_id: str | None = Field(
        None, description="Whose spend: the caller's tenant, or null for the whole platform."
    )
    since: date
    until: date
    total_usd: Decimal
    by_day: list[CostDay]
    by_task: list[CostTotalPublic]
    by_model: list[CostTotalPublic]
    performance: list[TaskPerformancePublic]

    @classmethod
    def of(cls, report: CostReport) -> CostsPublic:
        return cls.model_validate(report, from_attributes=True)


class BudgetWindowPublic(BaseModel):
    """One budget window of one task type."""

    tenant_id: str | None = Field(
        None,
        description="The tenant whose own window this is (its spend only); "
        "null for a global window, which counts the whole platform's spend.",
    )
    task: str
    window: str = Field(description="hour, day, or the length as 30m, 6h, 7d, 90s.")
    window_s: int = Field(description="Window length in seconds.")
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    remaining_usd: Decimal
    resets_at: datetime


class BudgetsPublic(BaseModel):
    windows: list[BudgetWindowPublic]
