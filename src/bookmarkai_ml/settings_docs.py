"""Render ``docs/configuration.md`` from the settings model, so the two cannot drift."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bookmarkai_ml.config import Settings

PREFIX = "BOOKMARKAI_ML_"

_HEADER = """# Configuration reference

Generated from `bookmarkai_ml.config.Settings` by `bookmarkai-ml config-docs`;
a test fails when this file and the settings model differ.

Every setting is an environment variable (also read from a `.env` file in the
working directory). Nested groups use a double underscore:
`BOOKMARKAI_ML_BUDGETS__TRANSCRIBE_PER_HOUR_USD=2`. Lists are JSON:
`BOOKMARKAI_ML_MEDIA__ALLOWED_HOSTS='["media.internal"]'`.
"""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Enum):
        value = value.value
    if value is None:
        return "unset"
    if str(value).startswith(("/root", "/home")):
        return "`~/.local/share/bookmarkai-ml`"
    return f"`{value}`"


def _rows(model: type[BaseModel], env_prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            continue
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{env_prefix}{name.upper()}` | {_default(field)} | {description} |")
    return rows


def render_configuration_docs() -> str:
    parts = [_HEADER, "## General\n", "| variable | default | meaning |", "|---|---|---|"]
    parts += _rows(Settings, PREFIX)
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            doc = (annotation.__doc__ or "").strip().splitlines()[0]
            parts += [
                "",
                f"## `{name}`: {doc}\n",
                "| variable | default | meaning |",
                "|---|---|---|",
            ]
            parts += _rows(annotation, f"{PREFIX}{name.upper()}__")
    return "\n".join(parts) + "\n"
