"""OpenAPI examples of list answers, built from the examples their items declare."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def examples_of(model: type[BaseModel]) -> list[Any]:
    """The ``examples`` ``model`` declares in its ``json_schema_extra`` (none: [])."""
    extra = model.model_config.get("json_schema_extra")
    found = extra.get("examples") if isinstance(extra, dict) else None
    return list(found) if isinstance(found, list) else []
