"""Job runtimes for tests: the worker's own, or one around a handler the test writes."""

from __future__ import annotations

from sqlalchemy import Engine

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.db.engine import SessionFactory
from bookmarkai_ml.db.jobs import PostgresJobRepository
from bookmarkai_ml.fakes import FakeBudgetLedger
from bookmarkai_ml.ports import BudgetLedger
from bookmarkai_ml.workers.handlers import Handler, HandlerRegistry
from bookmarkai_ml.workers.runtime import JobRuntime


def worker_runtime(settings: Settings, engine: Engine) -> JobRuntime:
    """The runtime a worker builds (real handlers and budget ledger) on ``engine``."""
    return bootstrap.job_runtime(settings, bootstrap.Database.on(engine))


def runtime_with(
    settings: Settings,
    sessions: SessionFactory,
    handler: Handler,
    *,
    task: TaskType = TaskType.SUMMARIZE,
    ledger: BudgetLedger | None = None,
) -> JobRuntime:
    """A real runtime and job repository whose ``task`` handler is ``handler``."""
    lease_s = float(settings.worker.lease_s)
    return JobRuntime(
        jobs=PostgresJobRepository(sessions, lease_s=lease_s),
        handlers=HandlerRegistry(settings, {task: lambda _settings: handler}),
        ledger=ledger or FakeBudgetLedger(),
        policy=bootstrap.retry_policy(settings),
        lease_s=lease_s,
    )
