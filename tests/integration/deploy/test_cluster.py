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
from collections.abc import Iterator

import aio_pika
import pytest

from support.rabbit_nodes import (
    DEPLOY,
    NodeFactory,
    RabbitNode,
    free_port,
    rewrite,
    shipped_haproxy,
    wait_for_port,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLUSTER_CONF = DEPLOY / "cluster" / "cluster.conf"
MESSAGES = 20


def _running_nodes(node: RabbitNode) -> set[str]:
    status = json.loads(node.ctl("cluster_status", "--formatter", "json"))
    return set(status["running_nodes"])


@pytest.fixture(scope="module")
def cluster(node_factory: NodeFactory) -> list[tuple[RabbitNode, int]]:
    """Three clustered nodes, each with a loopback AMQP port."""
    tag = uuid.uuid4().hex[:6]
    names = [f"c{i}-{tag}@localhost" for i in (1, 2, 3)]
    ports = [free_port() for _ in names]
    formation = rewrite(
        CLUSTER_CONF.read_text(),
        {f"rabbit@rabbitmq{i}": name for i, name in enumerate(names, start=1)},
        source=CLUSTER_CONF,
    )
    configs = [f"listeners.tcp.default = 127.0.0.1:{port}\n{formation}" for port in ports]
    first = node_factory.start(names[0], configs[0], listen_port=ports[0])
    # The others find the first through classic peer discovery and join it.
    rest = [node_factory.launch(n, c) for n, c in zip(names[1:], configs[1:], strict=True)]
    for node, port in zip(rest, ports[1:], strict=True):
        wait_for_port(port, node.proc, timeout_s=120)
    deadline = time.monotonic() + 60
    while _running_nodes(first) != set(names):
        assert time.monotonic() < deadline, f"cluster did not form: {_running_nodes(first)}"
        time.sleep(1)
    return list(zip([first, *rest], ports, strict=True))


@pytest.fixture(scope="module")
def haproxy_port(
    cluster: list[tuple[RabbitNode, int]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    backends = {f"rabbitmq{i}:5672": port for i, (_, port) in enumerate(cluster, start=1)}
    with shipped_haproxy(
        tmp_path_factory.mktemp("haproxy"), front="5672", backends=backends
    ) as port:
        yield port


async def test_quorum_queue_survives_losing_a_node_behind_haproxy(
    cluster: list[tuple[RabbitNode, int]], haproxy_port: int
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

    first, _ = cluster[0]
    members = json.loads(cluster[1][0].ctl("list_queues", "name", "members", "--formatter", "json"))
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
