"""services.jobs against the real database: get, cancel, retry, and what a worker then does."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeTask, SummaryResult, TaskType
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.errors import ConflictError, NotFoundError, QueueNotFoundError
from bookmarkai_ml.messaging.service import RelayService
from bookmarkai_ml.ports import CostLine, JobContext, TaskOutcome
from bookmarkai_ml.services import jobs
from bookmarkai_ml.workers.runtime import Delivery, Disposition, JobRuntime
from support.runtime import runtime_with

pytestmark = pytest.mark.integration


def _submit(sessions: SessionFactory, content: str = "text", tenant: str = "t1") -> jobs.JobView:
    with transaction(sessions) as session:
        message = SummarizeTask(share_id="s", content=content, tenant_id=tenant)
        return jobs.submit(session, message).job


def _outbox_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        sql = "SELECT count(*) FROM ml_outbox WHERE kind = 'task'"  # not completion events
        return int(conn.execute(text(sql)).scalar_one())


def test_get_is_scoped_to_the_tenant(clean_db: Engine, sessions: SessionFactory) -> None:
    job = _submit(sessions)
    with transaction(sessions) as session:
        assert jobs.get(session, job.id, tenant_id="t1").status == "queued"
        with pytest.raises(NotFoundError):
            jobs.get(session, job.id, tenant_id="someone-else")
        with pytest.raises(NotFoundError):
            jobs.get(session, uuid4())


def test_cancel_then_retry(clean_db: Engine, sessions: SessionFactory) -> None:
    job = _submit(sessions)
    with transaction(sessions) as session:
        assert jobs.cancel(session, job.id).status == "cancelled"
        assert jobs.cancel(session, job.id).status == "cancelled"  # idempotent
    assert _outbox_rows(clean_db) == 1
    with transaction(sessions) as session:
        retried = jobs.retry(session, job.id)
    assert retried.status == "queued"
    assert retried.attempts == 0
    assert _outbox_rows(clean_db) == 2  # the retry is published through the outbox
    with transaction(sessions) as session, pytest.raises(ConflictError):
        jobs.retry(session, job.id)  # queued: nothing to retry


def _runtime(settings: Settings, sessions: SessionFactory, calls: list[Any]) -> JobRuntime:
    def handler(message: Any, ctx: JobContext) -> TaskOutcome:
        calls.append(ctx.job_id)
        ctx.reserve(Decimal("0.01"))
        ctx.heartbeat()
        return TaskOutcome(
            result=SummaryResult(summary="s", model="m", provider="p"),
            cost=CostLine(provider="p", model="m", usd=Decimal("0.01")),
        )

    return runtime_with(settings, sessions, handler)


def test_runtime_skips_cancelled_and_done_jobs(
    clean_db: Engine, sessions: SessionFactory, settings: Settings
) -> None:
    calls: list[Any] = []
    runtime = _runtime(settings, sessions, calls)
    cancelled, done = _submit(sessions, "one"), _submit(sessions, "two")
    with transaction(sessions) as session:
        jobs.cancel(session, cancelled.id)
        payloads = {
            row.id: row.payload
            for row in session.execute(text("SELECT id, payload FROM ml_jobs")).all()
        }
    report = runtime.run(TaskType.SUMMARIZE, payloads[cancelled.id], Delivery())
    assert report.disposition is Disposition.SKIPPED
    first = runtime.run(TaskType.SUMMARIZE, payloads[done.id], Delivery())
    again = runtime.run(TaskType.SUMMARIZE, payloads[done.id], Delivery(delivery_count=1))
    assert (first.disposition, again.disposition) == (Disposition.DONE, Disposition.SKIPPED)
    assert calls == [done.id]
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ml_results")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM ml_costs")).scalar() == 1


async def test_relay_service_embeds_and_declares_the_topology(
    clean_db: Engine, sessions: SessionFactory, settings: Settings, empty_vhost_url: str
) -> None:
    """Embedded in this loop, on a broker where nothing is declared yet."""
    on_empty = settings.model_copy(update={"broker_url": empty_vhost_url})
    service = RelayService(on_empty, engine=clean_db)
    await service.start()  # returns at once; connects and declares in the background
    try:
        await asyncio.to_thread(_submit, sessions)
        depth = 0
        for _ in range(150):
            try:
                depth = (await service.admin.queue_depths(["ml.summarize"]))["ml.summarize"]
            except QueueNotFoundError:  # not declared yet
                depth = 0
            if depth == 1:
                break
            await asyncio.sleep(0.1)
        assert depth == 1
    finally:
        await service.stop()
    assert _outbox_rows(clean_db) == 1
    with clean_db.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL")).scalar() == 0
        )
