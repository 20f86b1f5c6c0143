"""Celery's send_task, our producer and a hand-made plain-AMQP message are consumed alike."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from bookmarkai_ml.contracts import SummarizeTask, encode_task
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.messaging.celery_app import make_celery_app
from bookmarkai_ml.messaging.producer import Producer
from support.harness import CLI, Stack

pytestmark = pytest.mark.integration

DOC = Path(__file__).parents[3] / "docs" / "messages.md"


def doc_example(name: str) -> str:
    """The fenced block after ``<!-- example:NAME -->`` in docs/messages.md."""
    match = re.search(rf"<!-- example:{name} -->\s*```json\n(.*?)\n```", DOC.read_text(), re.S)
    assert match, f"docs/messages.md has no example:{name}"
    return match.group(1)


async def _publish_by_hand(url: str) -> None:
    """Only aio-pika and the bytes in the doc: no Celery, no code of ours."""
    props: dict[str, Any] = json.loads(doc_example("properties"))
    headers = json.loads(doc_example("headers"))
    body = doc_example("body").encode("utf-8")
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("ml.tasks")
        await exchange.publish(
            aio_pika.Message(body, headers=headers, **props), routing_key="ml.summarize"
        )


async def _publish_with_producer(stack: Stack) -> None:
    async with Producer.from_settings(stack.settings) as producer:
        message = SummarizeTask(share_id="via-producer", content="published by our producer")
        await producer.publish(
            protocol.encode(
                task_name="summarize_content",
                kwargs=encode_task(message),
                routing_key="ml.summarize",
                exchange=topology.TASK_EXCHANGE,
            )
        )


def test_three_producers_are_consumed_alike(stack: Stack) -> None:
    stack.start_worker()
    app = make_celery_app(stack.settings)
    try:
        app.send_task(
            "summarize_content",
            kwargs={"schema_version": 1, "share_id": "via-celery", "content": "sent by celery"},
        )
        # The original positional signature summarize_content(share_id, content, options).
        app.send_task("summarize_content", args=["via-positional", "seed style", {}])
    finally:
        app.close()
    asyncio.run(_publish_with_producer(stack))
    asyncio.run(_publish_by_hand(stack.settings.broker_url or ""))

    shares = ("via-celery", "via-positional", "via-producer", "share-42")
    stack.wait_for(
        lambda: (
            stack.scalar(
                "SELECT count(*) FROM ml_jobs WHERE status = 'done' AND share_id = ANY(:s)",
                s=list(shares),
            )
            == len(shares)
        ),
        timeout=60,
        what="one done job per producer",
    )
    assert stack.scalar("SELECT count(*) FROM ml_results") == len(shares)
    traced = stack.scalar("SELECT traceparent FROM ml_jobs WHERE share_id = 'share-42'")
    assert traced == json.loads(doc_example("headers"))["traceparent"]


def test_hand_made_duplicate_runs_once(stack: Stack) -> None:
    """The same hand-made message twice: one job (idempotency key), one run."""
    stack.start_worker()
    asyncio.run(_publish_by_hand(stack.settings.broker_url or ""))
    asyncio.run(_publish_by_hand(stack.settings.broker_url or ""))
    stack.wait_for(
        lambda: stack.scalar("SELECT count(*) FROM ml_jobs WHERE status = 'done'") == 1,
        timeout=60,
        what="the job",
    )
    stack.wait_for(lambda: len(stack.runs()) >= 1, timeout=10, what="a run")
    assert stack.scalar("SELECT count(*) FROM ml_jobs") == 1
    assert len(stack.runs()) == 1


def test_topology_command_is_idempotent(stack: Stack) -> None:
    for _ in range(2):  # the queues exist already: re-declaring must agree with them
        done = subprocess.run(
            [CLI, "topology"],
            env=stack.env,
            cwd=stack.workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    declared = json.loads(done.stdout)
    assert declared["exchanges"] == ["ml.tasks", "ml.dlx", "ml.events"]
    assert declared["queues"]["ml.transcribe"]["x-queue-type"] == "quorum"
    assert "ml.transcribe.dlq" in declared["queues"]
