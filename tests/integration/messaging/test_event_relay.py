"""The relay publishes completion events to ``ml.events`` (real RabbitMQ and Postgres):
the AMQP message docs/messages.md documents, the same id on a republish, and an event
nobody is bound for is confirmed and dropped, never a failure."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from cloudevents.core.formats.json import JSONFormat
from sqlalchemy import text

from bookmarkai_ml.config import OutboxSettings
from bookmarkai_ml.contracts import SummarizeTask, SummaryResult
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.db.jobs import PostgresJobRepository
from bookmarkai_ml.messaging import events, protocol
from bookmarkai_ml.messaging.producer import Producer
from bookmarkai_ml.messaging.relay import OutboxRelay
from bookmarkai_ml.ports import CostLine, TaskOutcome
from bookmarkai_ml.services import jobs
from support.harness import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def channel(stack: Stack) -> AsyncIterator[AbstractChannel]:
    connection = await aio_pika.connect(stack.settings.broker_url or "")
    async with connection:
        yield await connection.channel()


async def _bind(channel: AbstractChannel, key: str) -> AbstractQueue:
    queue = await channel.declare_queue(f"test.events.{uuid.uuid4().hex[:8]}", exclusive=True)
    await queue.bind("ml.events", routing_key=key)
    return queue


def _cancelled_job(stack: Stack) -> uuid.UUID:
    message = SummarizeTask(share_id=f"share-{uuid.uuid4().hex[:6]}", content="x", tenant_id="t9")
    with transaction(stack.sessions) as session:
        job_id = jobs.submit(session, message).job.id
        jobs.cancel(session, job_id)
    return job_id


async def _drain(stack: Stack) -> int:
    async with Producer.from_settings(stack.settings) as producer:
        relay = OutboxRelay(
            engine=stack.engine,
            jobs=PostgresJobRepository(stack.sessions, lease_s=30),
            publisher=producer,
            settings=OutboxSettings(),
            listen=False,
        )
        try:
            return await relay.drain()
        finally:
            await relay.stop()


def _event_row(stack: Stack, job_id: uuid.UUID) -> Any:
    with stack.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT kwargs, headers, attempts, sent_at, last_error FROM ml_outbox "
                "WHERE kind = 'event' AND job_id = :id"
            ),
            {"id": job_id},
        ).one()


async def _get(queue: AbstractQueue) -> AbstractIncomingMessage:
    message = await queue.get(no_ack=True, fail=False, timeout=10)
    assert message is not None, "no event on the consumer's queue"
    return message


async def test_an_event_is_published_as_documented(stack: Stack, channel: AbstractChannel) -> None:
    queue = await _bind(channel, "job.#")
    job_id = _cancelled_job(stack)
    assert await _drain(stack) == 2  # the task message and the event
    stored = _event_row(stack, job_id)
    message = await _get(queue)

    assert message.exchange == "ml.events"
    assert message.routing_key == "job.summarize.cancelled"
    assert message.content_type == "application/cloudevents+json"
    assert message.content_encoding == "utf-8"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == stored.kwargs["id"] == stored.headers["id"]
    assert "id" not in (message.headers or {})
    assert message.body == events.body(stored.kwargs)
    body = json.loads(message.body)
    assert list(body)[:7] == list(events.ATTRIBUTE_ORDER)
    assert list(body)[-1] == "data"
    assert b", " not in message.body  # compact

    event = JSONFormat().read(None, message.body)
    assert event.get_specversion() == "1.0"
    assert event.get_id() == message.message_id
    assert event.get_source() == "/bookmarkai-ml"
    assert event.get_type() == "ai.bookmarkai.ml.job.cancelled"
    assert event.get_subject() == body["data"]["share_id"]
    assert event.get_time() is not None
    assert event.get_extension("tenantid") == "t9"
    data = event.get_data()
    assert isinstance(data, dict)
    assert data["id"] == str(job_id)
    assert data["status"] == "cancelled"
    assert stored.sent_at is not None


async def test_a_republished_event_keeps_its_id(stack: Stack, channel: AbstractChannel) -> None:
    queue = await _bind(channel, "job.*.cancelled")
    job_id = _cancelled_job(stack)
    await _drain(stack)
    first = await _get(queue)
    # The relay died after the confirm, before marking the row sent: it publishes again.
    stack.execute("UPDATE ml_outbox SET sent_at = NULL WHERE job_id = :id", id=job_id)
    await _drain(stack)
    again = await _get(queue)
    assert again.message_id == first.message_id
    assert again.body == first.body


async def test_an_event_nobody_is_bound_for_is_not_a_failure(
    stack: Stack, channel: AbstractChannel
) -> None:
    queue = await _bind(channel, "job.*.done")  # bound, but not for cancelled events
    job_id = _cancelled_job(stack)
    assert await _drain(stack) == 2
    row = _event_row(stack, job_id)
    assert row.sent_at is not None
    assert row.attempts == 1
    assert row.last_error is None
    assert stack.statuses([job_id]) == {job_id: "cancelled"}
    assert await queue.get(no_ack=True, fail=False) is None


DOC = Path(__file__).resolve().parents[3] / "docs" / "messages.md"


def doc_example(name: str) -> str:
    """The fenced block after ``<!-- example:NAME -->`` in docs/messages.md."""
    match = re.search(rf"<!-- example:{name} -->\s*```json\n(.*?)\n```", DOC.read_text(), re.S)
    assert match, f"docs/messages.md has no example:{name}"
    return match.group(1)


def _done_job(stack: Stack) -> uuid.UUID:
    repo = PostgresJobRepository(stack.sessions, lease_s=30)
    message = SummarizeTask(share_id="share-42", content="Quorum queues.", tenant_id="default")
    with transaction(stack.sessions) as session:
        job_id = jobs.submit(session, message).job.id
    _, attempts = repo.claim(message.model_copy(update={"job_id": job_id}), owner="w")
    assert attempts == 1
    result = SummaryResult(summary="Quorum queues.", model="m", provider="local")
    outcome = TaskOutcome(result=result, cost=CostLine(provider="local", model="m"))
    assert repo.finish(job_id, owner="w", outcome=outcome, duration_ms=1)
    return job_id


async def test_the_message_is_the_one_docs_messages_md_shows(
    stack: Stack, channel: AbstractChannel
) -> None:
    binding = json.loads(doc_example("event-binding"))
    queue = await _bind(channel, binding["binding_key_for_everything"])
    job_id = _done_job(stack)
    await _drain(stack)
    message = await _get(queue)

    assert message.exchange == binding["exchange"]
    assert message.routing_key == "job.summarize.done"
    props = json.loads(doc_example("event-properties"))
    assert message.content_type == props["content_type"]
    assert message.content_encoding == props["content_encoding"]
    assert message.delivery_mode == props["delivery_mode"]
    assert message.message_id == message.correlation_id
    headers = json.loads(doc_example("event-headers"))
    assert set(message.headers or {}) == set(headers)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", str(message.headers["traceparent"]))

    documented = json.loads(doc_example("event-body"))
    real = json.loads(message.body)
    # The same members in the same order, at every level the example shows.
    assert list(real) == list(documented)
    assert list(real["data"]) == list(documented["data"])
    assert list(real["data"]["result"]) == list(documented["data"]["result"])
    assert real["data"]["id"] == str(job_id)
    for name in ("specversion", "source", "type", "subject", "datacontenttype", "tenantid"):
        assert real[name] == documented[name], name
    assert message.body == protocol.dumps(real)  # compact, as the example is written
    assert JSONFormat().read(None, doc_example("event-body")).get_type() == real["type"]
