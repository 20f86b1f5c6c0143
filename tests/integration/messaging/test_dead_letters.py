"""Poison and contract-breaking messages reach the DLQ with their reason; replay completes them."""

from __future__ import annotations

import asyncio
import json
import subprocess

import aio_pika
import pytest

from bookmarkai_ml.contracts import SummarizeTask
from bookmarkai_ml.db import jobs
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.messaging import protocol, topology
from support.harness import CLI, Stack

pytestmark = pytest.mark.integration


def _publish_raw(url: str, kwargs: dict[str, object]) -> None:
    """A broken message, as a careless producer would send it (encoded like ours)."""

    async def main() -> None:
        message = protocol.encode(
            task_name="summarize_content",
            kwargs=kwargs,
            routing_key="ml.summarize",
            exchange=topology.TASK_EXCHANGE,
        )
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(topology.TASK_EXCHANGE)
            await exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=dict(message.headers),
                    content_type="application/json",
                    content_encoding="utf-8",
                ),
                routing_key="ml.summarize",
            )

    asyncio.run(main())


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=stack.env, cwd=stack.workdir, capture_output=True, text=True, timeout=120
    )


def test_poison_and_broken_messages_are_dead_lettered_and_replayable(stack: Stack) -> None:
    stack.start_relay()  # also archives the DLQs every maintenance interval
    stack.start_worker()
    poison = stack.submit("boom always crashes")
    # A job whose message breaks its contract: the row exists, the message is bad.
    with transaction(stack.sessions) as session:
        broken = jobs.adopt(session, SummarizeTask(share_id="broken", content="fine text"))
    _publish_raw(
        stack.settings.broker_url or "",
        {"job_id": str(broken), "share_id": "broken", "content": "", "schema_version": 1},
    )
    healthy = [stack.submit(f"ok healthy {i}") for i in range(10)]

    stack.wait_status(healthy, timeout=60)  # other messages keep flowing
    stack.wait_status([poison, broken], ("failed",), timeout=90)
    limit = stack.settings.broker.delivery_limit
    assert stack.runs().count(str(poison)) <= limit  # dead within the delivery limit
    code, reason = stack.scalar(
        "SELECT array[error_code, error_message] FROM ml_jobs WHERE id = :i", i=poison
    )
    assert code == "poison_message"
    assert "boom" in reason
    code, reason = stack.scalar(
        "SELECT array[error_code, error_message] FROM ml_jobs WHERE id = :i", i=broken
    )
    assert code == "contract_violation"
    assert "content" in reason

    listed = json.loads(_cli(stack, "dlq", "list", "--json").stdout)
    by_job = {row["job_id"]: row for row in listed}
    assert set(by_job) >= {str(poison), str(broken)}
    assert "boom" in by_job[str(poison)]["reason"]
    assert "contract_violation" in by_job[str(broken)]["reason"]
    assert {by_job[str(poison)]["queue"], by_job[str(broken)]["queue"]} == {"ml.summarize"}

    (stack.markers / "fixed").touch()  # the handler is fixed; replay the poison message
    replay = _cli(stack, "dlq", "replay", str(by_job[str(poison)]["id"]))
    assert replay.returncode == 0, replay.stderr
    stack.wait_status([poison], timeout=60)
    assert stack.scalar("SELECT count(*) FROM ml_results WHERE job_id = :i", i=poison) == 1
    relisted = json.loads(_cli(stack, "dlq", "list", "--json").stdout)
    assert str(poison) not in {row["job_id"] for row in relisted}


def test_message_without_job_that_breaks_its_contract_is_dead_lettered(stack: Stack) -> None:
    stack.start_worker()
    _publish_raw(stack.settings.broker_url or "", {"share_id": "x", "unknown_field": 1})
    stack.wait_for(
        lambda: bool(json.loads(_cli(stack, "dlq", "list", "--json").stdout)),
        timeout=60,
        what="the dead letter",
    )
    [row] = json.loads(_cli(stack, "dlq", "list", "--json").stdout)
    assert row["job_id"] is None
    assert "unknown_field" in row["reason"]
    assert stack.scalar("SELECT count(*) FROM ml_jobs") == 0
