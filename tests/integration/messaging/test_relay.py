"""The outbox relay against the real broker and database, embedded in this event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from bookmarkai_ml.config import OutboxSettings
from bookmarkai_ml.contracts import SummarizeTask
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.db.jobs import PostgresJobRepository
from bookmarkai_ml.errors import BrokerUnavailableError
from bookmarkai_ml.messaging.admin import BrokerAdmin
from bookmarkai_ml.messaging.producer import Producer
from bookmarkai_ml.messaging.relay import OutboxRelay
from bookmarkai_ml.services import jobs
from support.harness import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(stack: Stack) -> AsyncIterator[Producer]:
    async with Producer.from_settings(stack.settings) as p:
        yield p


def _submit_many(stack: Stack, n: int, prefix: str = "ok") -> None:
    with transaction(stack.sessions) as session:
        for i in range(n):
            jobs.submit(session, SummarizeTask(share_id=f"s{i}", content=f"{prefix} {i}"))


def _jobs(stack: Stack) -> PostgresJobRepository:
    return PostgresJobRepository(stack.sessions, lease_s=stack.settings.worker.lease_s)


async def _depth(stack: Stack) -> int:
    async with BrokerAdmin.from_settings(stack.settings) as admin:
        return (await admin.queue_depths(["ml.summarize"]))["ml.summarize"]


async def test_notify_wakes_the_relay_without_polling(stack: Stack, producer: Producer) -> None:
    settings = OutboxSettings(poll_interval_s=60, maintenance_interval_s=60)
    relay = OutboxRelay(
        engine=stack.engine, jobs=_jobs(stack), publisher=producer, settings=settings
    )
    relay.start()
    try:
        await asyncio.sleep(1.0)  # LISTEN is up; the first round found nothing
        started = time.monotonic()
        await asyncio.to_thread(_submit_many, stack, 1)
        while (
            await asyncio.to_thread(
                stack.scalar, "SELECT count(*) FROM ml_outbox WHERE sent_at IS NOT NULL"
            )
            < 1
        ):
            assert time.monotonic() - started < 10, "the relay did not wake on NOTIFY"
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
    assert time.monotonic() - started < 10 < settings.poll_interval_s
    assert await _depth(stack) == 1


async def test_two_relays_publish_each_row_once(stack: Stack, producer: Producer) -> None:
    await asyncio.to_thread(_submit_many, stack, 600)
    settings = OutboxSettings(batch_size=50)
    relays = [
        OutboxRelay(
            engine=stack.engine,
            jobs=_jobs(stack),
            publisher=producer,
            settings=settings,
            listen=False,
        )
        for _ in range(2)
    ]
    sent = await asyncio.gather(*(r.drain() for r in relays))
    for r in relays:
        await r.stop()
    assert sum(sent) == 600
    assert all(n > 0 for n in sent)  # SKIP LOCKED shared the work
    assert await _depth(stack) == 600


async def test_unroutable_row_fails_its_job_after_three_attempts(
    stack: Stack, producer: Producer
) -> None:
    await asyncio.to_thread(_submit_many, stack, 1)
    await asyncio.to_thread(stack.execute, "UPDATE ml_outbox SET routing_key = 'ml.nowhere'")
    # The job's failure then writes its completion event (routable as ever: not refused).
    settings = OutboxSettings(retry_initial_s=0.2, retry_max_s=0.5, poll_interval_s=0.2)
    relay = OutboxRelay(
        engine=stack.engine, jobs=_jobs(stack), publisher=producer, settings=settings
    )
    relay.start()
    try:
        deadline = time.monotonic() + 20
        while await asyncio.to_thread(stack.scalar, "SELECT status FROM ml_jobs") != "failed":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        await relay.stop()
    with stack.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT attempts, sent_at IS NOT NULL, last_error FROM ml_outbox "
                "WHERE kind = 'task'"
            )
        ).one()
        code = conn.execute(text("SELECT error_code FROM ml_jobs")).scalar()
    assert row[0] == 3
    assert row[1]
    assert "unroutable" in row[2]
    assert code == "unroutable"


async def test_broker_outage_keeps_every_row(stack: Stack) -> None:
    dead = Producer(
        url="amqp://guest:guest@127.0.0.1:1/",
        broker=stack.settings.broker.model_copy(update={"reconnect_max_attempts": 1}),
    )
    await asyncio.to_thread(_submit_many, stack, 5)
    relay = OutboxRelay(
        engine=stack.engine,
        jobs=_jobs(stack),
        publisher=dead,
        settings=OutboxSettings(),
        listen=False,
    )
    for _ in range(3):
        with pytest.raises(BrokerUnavailableError):
            await relay.drain()
    await relay.stop()
    assert stack.scalar("SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL") == 5
    assert stack.scalar("SELECT max(attempts) FROM ml_outbox") == 0
