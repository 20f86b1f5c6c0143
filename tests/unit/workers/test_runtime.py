"""The job runtime on the in-package fakes: each verdict applied in one place."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeTask, SummaryResult, TaskType, encode_task
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.domain.verdict import RetryPolicy
from bookmarkai_ml.errors import MediaError, ProviderUnavailableError
from bookmarkai_ml.fakes import FakeBudgetLedger, FakeJobRepository
from bookmarkai_ml.ports import CostLine, JobContext, TaskOutcome
from bookmarkai_ml.workers.handlers import Handler, HandlerRegistry
from bookmarkai_ml.workers.runtime import Delivery, Disposition, JobRuntime

POLICY = RetryPolicy(max_retries=1, delivery_limit=2, backoff=Backoff(initial=1.0, maximum=4.0))


def _runtime(handler: Handler) -> tuple[JobRuntime, FakeJobRepository, FakeBudgetLedger]:
    jobs, ledger = FakeJobRepository(), FakeBudgetLedger()
    registry = HandlerRegistry(
        Settings(_env_file=None),  # type: ignore[call-arg]
        {TaskType.SUMMARIZE: lambda _settings: handler},
    )
    runtime = JobRuntime(jobs=jobs, handlers=registry, ledger=ledger, policy=POLICY, lease_s=60)
    return runtime, jobs, ledger


def _kwargs(content: str = "text") -> dict[str, Any]:
    return encode_task(SummarizeTask(share_id="s1", content=content))


def _ok(message: Any, ctx: JobContext) -> TaskOutcome:
    ctx.reserve(Decimal("0.01"))
    return TaskOutcome(
        result=SummaryResult(summary="s", model="m", provider="p"),
        cost=CostLine(provider="p", model="m", usd=Decimal("0.01")),
    )


def test_a_job_runs_once_and_a_duplicate_delivery_is_skipped() -> None:
    runtime, jobs, _ = _runtime(_ok)
    kwargs = _kwargs()
    first = runtime.run(TaskType.SUMMARIZE, kwargs)
    assert first.disposition is Disposition.DONE
    assert first.cost is not None
    assert first.cost.usd == Decimal("0.01")
    kwargs["job_id"] = str(first.job_id)
    assert runtime.run(TaskType.SUMMARIZE, kwargs).disposition is Disposition.SKIPPED
    assert list(jobs.results) == [first.job_id]


def test_a_permanent_error_releases_the_budget_and_fails_the_job() -> None:
    def handler(message: Any, ctx: JobContext) -> TaskOutcome:
        ctx.reserve(Decimal("0.5"))
        raise MediaError("corrupt", code="corrupt_media")

    runtime, jobs, ledger = _runtime(handler)
    report = runtime.run(TaskType.SUMMARIZE, _kwargs())
    assert report.disposition is Disposition.FAILED
    assert report.job_id is not None
    assert jobs.jobs[report.job_id].error_code == "corrupt_media"
    assert ledger.released == [report.job_id]
    assert not ledger.held


def test_a_retryable_error_is_queued_again_through_the_outbox() -> None:
    def handler(message: Any, ctx: JobContext) -> TaskOutcome:
        raise ProviderUnavailableError("503")

    runtime, jobs, _ = _runtime(handler)
    report = runtime.run(TaskType.SUMMARIZE, _kwargs())
    assert report.disposition is Disposition.RETRIED
    assert report.job_id is not None
    assert jobs.jobs[report.job_id].status == "queued"
    assert jobs.outbox == [(report.job_id, 1.0)]


def test_a_crash_is_requeued_then_dead_lettered_at_the_delivery_limit() -> None:
    def handler(message: Any, ctx: JobContext) -> TaskOutcome:
        raise RuntimeError("segfault-ish")

    runtime, jobs, _ = _runtime(handler)
    kwargs = _kwargs()
    first = runtime.run(TaskType.SUMMARIZE, kwargs)
    assert first.disposition is Disposition.REQUEUE
    assert first.job_id is not None
    kwargs["job_id"] = str(first.job_id)
    last = runtime.run(TaskType.SUMMARIZE, kwargs, Delivery(delivery_count=1))
    assert last.disposition is Disposition.DEAD_LETTER
    assert jobs.jobs[first.job_id].error_code == "poison_message"


def test_a_broken_contract_is_dead_lettered_without_running() -> None:
    calls: list[Any] = []
    runtime, _, _ = _runtime(lambda message, ctx: calls.append(message))  # type: ignore[arg-type, return-value]
    report = runtime.run(TaskType.SUMMARIZE, {"schema_version": 1, "share_id": "s1"})
    assert report.disposition is Disposition.DEAD_LETTER
    assert report.reason is not None
    assert "content" in report.reason
    assert calls == []
