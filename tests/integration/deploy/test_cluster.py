"""The 3-node cluster behind HAProxy survives losing a node.

Three private nodes form a cluster from the shipped ``deploy/cluster/cluster.conf``
(node names rewritten), and clients reach them only through the shipped
``haproxy.cfg``.  A quorum queue filled through HAProxy is still served after the
first node is stopped (docs/deployment.md, "RabbitMQ cluster").
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aio_pika
import pytest

from support.rabbit_nodes import ClusterNode

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = 20


async def test_quorum_queue_survives_losing_a_node_behind_haproxy(
    cluster: list[ClusterNode], haproxy_port: int
) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{haproxy_port}/"
    queue_name = f"failover-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(url, timeout=15)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        for n in range(MESSAGES):
            await channel.default_exchange.publish(
                aio_pika.Message(str(n).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=queue_name,
            )

    first = cluster[0].node
    members = json.loads(
        cluster[1].node.ctl("list_queues", "name", "members", "--formatter", "json")
    )
    (queue,) = [q for q in members if q["name"] == queue_name]
    assert len(queue["members"]) == 3, "a quorum queue is replicated on every node"

    first.stop()  # the queue keeps a majority (2 of 3) and elects a new leader

    received: list[bytes] = []
    connection = await aio_pika.connect(url, timeout=15)  # HAProxy redispatches
    async with connection:
        channel = await connection.channel()
        queue_obj = await channel.declare_queue(queue_name, passive=True)
        deadline = time.monotonic() + 30
        while len(received) < MESSAGES and time.monotonic() < deadline:
            message = await queue_obj.get(timeout=10, fail=False)
            if message is None:
                await asyncio.sleep(0.2)
                continue
            received.append(message.body)
            await message.ack()
    assert sorted(int(b) for b in received) == list(range(MESSAGES))
