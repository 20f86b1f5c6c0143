"""Settings for unit tests of the broker and worker configuration: no .env, a fake broker URL."""

from __future__ import annotations

from bookmarkai_ml.config import Settings, WorkerSettings
from bookmarkai_ml.contracts import TaskType


def broker_settings(
    tasks: dict[TaskType, dict[str, object]] | None = None, **worker: object
) -> Settings:
    """``worker`` fields and partial per-task overrides (the validator fills the rest)."""
    return Settings(
        broker_url="amqp://guest:guest@127.0.0.1:5672/x",
        environment="test",
        worker=WorkerSettings(**worker),  # type: ignore[arg-type]
        tasks=tasks or {},  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
