"""Render ``docs/configuration.md`` from the settings model, so the two cannot drift."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bookmarkai_ml.config import DEPRECATED_NAMES, Settings, env_name

_HEADER = """# Configuration reference

Generated from `bookmarkai_ml.config.Settings` by `bookmarkai-ml config-docs`;
a test fails when this file and the settings model differ.

Every setting is an environment variable (also read from a `.env` file in the
working directory). Nested groups use a double underscore:
`BOOKMARKAI_ML_TASKS__TRANSCRIBE__PER_HOUR_USD=2`. Lists are JSON:
`BOOKMARKAI_ML_MEDIA__ALLOWED_HOSTS='["media.internal"]'`. Defaults marked *(design default)*
come from the original design ([operations.md](operations.md#defaults-from-the-original-design)).
"""


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Enum):
        value = value.value
    if value is None:
        return "unset"
    if str(value).startswith(("/root", "/home")):
        return "`~/.local/share/bookmarkai-ml`"
    return f"`{value}`"


def _is_group(field: FieldInfo) -> bool:
    """A nested model (``worker``) or a dict of them (``tasks``): its own section."""
    annotation = field.annotation
    nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return nested or isinstance(_default(field), dict)


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, its default and the field it sets."""

    name: str
    default: Any
    field: FieldInfo

    def row(self) -> str:
        description = (self.field.description or "").replace("|", "\\|")
        return f"| `{self.name}` | {_shown(self.default)} | {description} |"


def _plain(model: type[BaseModel], *path: str) -> list[Variable]:
    """The plain fields of ``model``, the group at ``path``."""
    return [
        Variable(env_name(*path, name), _default(field), field)
        for name, field in model.model_fields.items()
        if not _is_group(field)
    ]


def _keyed(defaults: dict[str, BaseModel], *path: str) -> list[Variable]:
    """Every key and field of a dict group (``tasks``), with each key's own default."""
    return [
        Variable(env_name(*path, key, name), model.model_dump()[name], field)
        for key, model in defaults.items()
        for name, field in type(model).model_fields.items()
    ]


def sections() -> list[tuple[str, list[Variable]]]:
    """Every setting as ``(section title, variables)``, in the model's order."""
    out = [("General", _plain(Settings))]
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            doc = (annotation.__doc__ or "").strip().splitlines()[0]
            out.append((f"`{name}`: {doc}", _plain(annotation, name)))
        elif _is_group(field):
            out.append((f"`{name}`: {field.description}", _keyed(_default(field), name)))
    return out


def variable_names() -> set[str]:
    """Every environment variable that sets a field (deprecated names excluded)."""
    return {variable.name for _, variables in sections() for variable in variables}


def _deprecated() -> list[str]:
    intro = "Accepted for one more release, with a `DeprecationWarning`; mapped to the new name."
    head = ["", "## Deprecated names\n", intro, "", "| old variable | use instead |", "|---|---|"]
    return head + [
        f"| `{env_name(group, old)}` | `{env_name('tasks', task, field)}` |"
        for (group, old), (task, field) in DEPRECATED_NAMES.items()
    ]


def render_configuration_docs() -> str:
    parts = [_HEADER.rstrip("\n")]
    for title, variables in sections():
        parts += ["", f"## {title}\n", "| variable | default | meaning |", "|---|---|---|"]
        parts += [variable.row() for variable in variables]
    parts += _deprecated()
    return "\n".join(parts) + "\n"
