"""Per-tenant budget windows, as the admin routes take and return them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from bookmarkai_ml.services.budget_limits import MAX_USD, BudgetLimitInfo


class BudgetLimitSet(BaseModel):
    """The limit of one tenant window (the path names the tenant, task and window)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"usd": "2.50"}]}
    )

    usd: Decimal = Field(ge=0, le=MAX_USD, description="At most this much USD per window.")


class BudgetLimitPublic(BaseModel):
    """One tenant's spend limit for one task over one rolling window."""

    tenant_id: str
    task: str
    window: str = Field(description="hour, day, or the length as 30m, 6h, 7d, 90s.")
    window_s: int = Field(description="Window length in seconds.")
    usd: Decimal
    created_at: datetime

    @classmethod
    def of(cls, info: BudgetLimitInfo) -> BudgetLimitPublic:
        return cls.model_validate(info, from_attributes=True)


class BudgetLimitsPublic(BaseModel):
    limits: list[BudgetLimitPublic]
