"""Decode and encode task messages; a broken contract is a permanent ``ContractError``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bookmarkai_ml.contracts.messages import SCHEMA_VERSION, TaskMessageT, TaskType
from bookmarkai_ml.contracts.tasks import TASKS
from bookmarkai_ml.errors import ContractError


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<message>"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def decode_task(task: TaskType | str, kwargs: Mapping[str, Any]) -> TaskMessageT:
    """Validate ``kwargs`` against the contract of ``task``.

    Raises:
        ContractError: unknown task, unknown ``schema_version``, or an invalid field;
            the message names the field and the problem.
    """
    spec = TASKS.spec(task)
    version = kwargs.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ContractError(
            f"schema_version: unsupported version {version!r} (this worker speaks {SCHEMA_VERSION})"
        )
    data = dict(kwargs)
    data.setdefault("task", spec.type.value)
    try:
        return spec.message.model_validate(data)
    except ValidationError as exc:
        raise ContractError(f"{spec.type.value} message: {_describe(exc)}") from exc


def encode_task(message: TaskMessageT) -> dict[str, Any]:
    """The JSON-ready ``kwargs`` for a message (``task`` is implied by the task name)."""
    return message.model_dump(mode="json", exclude={"task"})
