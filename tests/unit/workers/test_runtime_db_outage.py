"""A database outage at claim time is waited out, not requeued at once: a requeue comes
straight back and spends the queue's delivery limit (found by the chaos soak)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeTask, SummaryResult, TaskType, encode_task
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.domain.verdict import RetryPolicy
from bookmarkai_ml.errors import DatabaseUnavailableError
from bookmarkai_ml.fakes import FakeBudgetLedger, FakeJobRepository
from bookmarkai_ml.ports import CostLine, JobContext, TaskOutcome
from bookmarkai_ml.workers.handlers import HandlerRegistry
from bookmarkai_ml.workers.runtime import Disposition, JobRuntime

POLICY = RetryPolicy(max_retries=1, delivery_limit=2, backoff=Backoff(initial=1.0, maximum=4.0))


class DownFor(FakeJobRepository):
    """Refuses the first ``outage`` claims as an unreachable database would."""

    def __init__(self, outage: int) -> None:
        super().__init__()
        self.outage, self.claims = outage, 0

    def claim(
        self, message: TaskMessageT, *, owner: str, traceparent: str | None = None
    ) -> tuple[UUID, int | None]:
        self.claims += 1
        if self.claims <= self.outage:
            raise DatabaseUnavailableError("connection refused")
        return super().claim(message, owner=owner, traceparent=traceparent)


def _ok(message: Any, ctx: JobContext) -> TaskOutcome:
    return TaskOutcome(
        result=SummaryResult(summary="s", model="m", provider="p"),
        cost=CostLine(provider="p", model="m", usd=Decimal(0)),
    )


def _runtime(jobs: FakeJobRepository, waits: tuple[float, ...]) -> JobRuntime:
    registry = HandlerRegistry(
        Settings(_env_file=None),  # type: ignore[call-arg]
        {TaskType.SUMMARIZE: lambda _settings: _ok},
    )
    return JobRuntime(
        jobs=jobs,
        handlers=registry,
        ledger=FakeBudgetLedger(),
        policy=POLICY,
        lease_s=60,
        claim_waits_s=waits,
    )


def test_a_short_outage_is_waited_out_and_the_job_runs() -> None:
    jobs = DownFor(outage=3)
    report = _runtime(jobs, (0.0, 0.0, 0.0)).run(
        TaskType.SUMMARIZE, encode_task(SummarizeTask(share_id="s1", content="text"))
    )
    assert report.disposition is Disposition.DONE
    assert jobs.claims == 4


def test_an_outage_longer_than_every_wait_requeues_the_message() -> None:
    jobs = DownFor(outage=10)
    report = _runtime(jobs, (0.0, 0.0)).run(
        TaskType.SUMMARIZE, encode_task(SummarizeTask(share_id="s1", content="text"))
    )
    assert report.disposition is Disposition.REQUEUE
    assert jobs.claims == 3
