"""Per-tenant budget windows, as the admin routes take and return them."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from bookmarkai_ml.api.schemas.examples import examples_of
from bookmarkai_ml.services.budget_limits import MAX_USD, BudgetLimitInfo

#: A tenant id as keys carry it: 1-100 characters, no NUL (Postgres text refuses it).
TENANT_PATTERN = r"^[^\x00]+$"

TenantPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        pattern=TENANT_PATTERN,
        description="The tenant (a key's tenant id).",
        examples=["tenant-a"],
    ),
]
TenantQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        pattern=TENANT_PATTERN,
        description="Admin keys: only this tenant. A tenant key may name only its own.",
    ),
]

#: A USD amount as text: what ``numeric(14, 8)`` holds, digits only (no sign, exponent, space).
_USD_TEXT = r"^[0-9]{1,6}(\.[0-9]{1,8})?$"


def _usd_text(value: Any) -> Any:
    """A string amount must be plain digits (the schema's pattern); numbers pass as they are."""
    if isinstance(value, str) and not re.fullmatch(_USD_TEXT, value):
        raise ValueError("usd must be a number or a decimal string like '2.50'")
    return value


Usd = Annotated[
    Decimal,
    BeforeValidator(_usd_text),
    Field(ge=0, le=MAX_USD),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": float(MAX_USD)},
                {"type": "string", "pattern": _USD_TEXT},
            ]
        }
    ),
]


class BudgetLimitSet(BaseModel):
    """The limit of one tenant window (the path names the tenant, task and window)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"usd": "2.50"}]})

    usd: Usd = Field(description="At most this much USD per window.")


class BudgetLimitPublic(BaseModel):
    """One tenant's spend limit for one task over one rolling window."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tenant_id": "acme",
                    "task": "transcribe",
                    "window": "day",
                    "window_s": 86400,
                    "usd": "2.50000000",
                    "created_at": "2026-11-30T02:30:00Z",
                }
            ]
        }
    )

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

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"limits": examples_of(BudgetLimitPublic)}]}
    )
