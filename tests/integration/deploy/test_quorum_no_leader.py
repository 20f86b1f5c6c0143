"""The producer gets past a channel opened while its quorum queue had no leader.

Found by tests/integration/deploy/test_cluster_failover.py, where it happened by chance: the
relay lost its connection with the node that led the queues, reconnected to a survivor
before the survivors had elected a new leader, and that channel then nacked every publish to
the queue for minutes, although the queue had a leader again (RabbitMQ 3.10); a new
connection published at once. Here the window is made on purpose: the leader's node is
killed (SIGKILL) and one of the two survivors is frozen (SIGSTOP), so the last one cannot
elect a leader while the producer opens its channel on it; then the frozen node resumes and
a leader is elected. The producer, with the design's numbers, must publish again within a
few of the relay's retries instead of being stuck until a restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest

from bookmarkai_ml.config import BrokerSettings, Settings
from bookmarkai_ml.errors import BrokerUnavailableError
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.messaging.admin import BrokerAdmin
from bookmarkai_ml.messaging.producer import Producer
from bookmarkai_ml.ports import OutgoingMessage
from support.rabbit_nodes import ClusterNode

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUEUE = "ml.summarize"
RETRY_S = 1.0  # the relay's first retry delay (outbox.retry_initial_s)


def _message() -> OutgoingMessage:
    return protocol.encode(
        task_name="summarize_content",
        kwargs={"share_id": "no-leader", "content": "ok"},
        routing_key=QUEUE,
        exchange=topology.TASK_EXCHANGE,
        task_id=str(uuid.uuid4()),
        headers={},
    )


async def test_producer_publishes_again_after_opening_its_channel_without_a_leader(
    cluster: list[ClusterNode],
) -> None:
    first, second, third = cluster
    # Declared on the first node: the client-local leader locator puts every leader there.
    direct = Settings(
        broker_url=f"amqp://guest:guest@127.0.0.1:{first.port}/",
        environment="test",
        _env_file=None,  # type: ignore[call-arg]
    )
    async with BrokerAdmin.from_settings(direct) as admin:
        await admin.declare_topology()
    assert second.node.queue_leaders()[QUEUE] == first.node.name
    frozen = third.node.os_pid()
    producer = Producer(url=f"amqp://guest:guest@127.0.0.1:{second.port}/", broker=BrokerSettings())
    try:
        first.node.kill()
        os.kill(frozen, signal.SIGSTOP)  # no majority left: no leader can be elected
        try:
            with pytest.raises(BrokerUnavailableError):
                await producer.publish(_message())  # its channel opens now
        finally:
            os.kill(frozen, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while second.node.queue_leaders().get(QUEUE) in (None, first.node.name):
            assert time.monotonic() < deadline, "no new leader elected"
            await asyncio.sleep(0.5)

        # The relay retries a failed round after RETRY_S and more; a few rounds must do.
        errors: list[str] = []
        for _ in range(5):
            try:
                await producer.publish(_message())
                break
            except BrokerUnavailableError as exc:
                errors.append(str(exc))
                await asyncio.sleep(RETRY_S)
        else:
            pytest.fail(f"still refused with a leader elected: {errors}")
    finally:
        os.kill(frozen, signal.SIGCONT)
        await producer.close()
