"""The broker admin on a real RabbitMQ: it works, and its errors are the project's own."""

from __future__ import annotations

import aiormq
import pytest

from bookmarkai_ml.config import Settings
from bookmarkai_ml.errors import BrokerUnavailableError, ConfigurationError, QueueNotFoundError
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.messaging.admin import BrokerAdmin
from bookmarkai_ml.messaging.producer import Producer
from bookmarkai_ml.ports import OutgoingMessage

pytestmark = pytest.mark.integration

DLQ = topology.dlq_name("ml.summarize")


def _on(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"broker_url": url})


def _dead_letter(i: int) -> OutgoingMessage:
    return protocol.encode(
        task_name="summarize_content",
        kwargs={"share_id": f"d{i}", "content": "x"},
        routing_key="ml.summarize",
        exchange=topology.DEAD_LETTER_EXCHANGE,
    )


async def test_a_missing_queue_is_queue_not_found(settings: Settings, empty_vhost_url: str) -> None:
    async with BrokerAdmin.from_settings(_on(settings, empty_vhost_url)) as admin:
        with pytest.raises(QueueNotFoundError) as caught:
            await admin.queue_depths(["ml.no-such-queue"])
        assert caught.value.code == "queue_not_found"
        assert isinstance(caught.value.__cause__, aiormq.exceptions.ChannelNotFoundEntity)
        with pytest.raises(QueueNotFoundError):
            await admin.purge(["ml.no-such-queue"])
        with pytest.raises(QueueNotFoundError):
            await admin.get("ml.no-such-queue")
        # Each error closed one short-lived channel; the admin itself carries on.
        await admin.declare_topology()
        assert await admin.queue_depths(["ml.summarize", DLQ]) == {"ml.summarize": 0, DLQ: 0}
        assert await admin.get(DLQ) is None


async def test_an_unreachable_broker_is_broker_unavailable(settings: Settings) -> None:
    down = settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1/"})
    async with BrokerAdmin.from_settings(down) as admin:
        with pytest.raises(BrokerUnavailableError) as caught:
            await admin.connect(attempts=2)
        assert "after 2 attempt(s)" in caught.value.message
        assert isinstance(caught.value.__cause__, OSError)
        with pytest.raises(BrokerUnavailableError):
            await admin.declare_topology()
        with pytest.raises(BrokerUnavailableError):
            await admin.queue_depths(["ml.summarize"])
        with pytest.raises(BrokerUnavailableError):
            await admin.purge(["ml.summarize"])
        with pytest.raises(BrokerUnavailableError):
            await admin.get(DLQ)


async def test_a_queue_declared_with_other_arguments_is_a_topology_mismatch(
    settings: Settings, empty_vhost_url: str
) -> None:
    ours = _on(settings, empty_vhost_url)
    async with BrokerAdmin.from_settings(ours) as admin:
        await admin.declare_topology()
    other = ours.model_copy(
        update={"broker": ours.broker.model_copy(update={"delivery_limit": 99})}
    )
    async with BrokerAdmin.from_settings(other) as admin:
        with pytest.raises(ConfigurationError) as caught:
            await admin.declare_topology()
    assert caught.value.code == "topology_mismatch"
    assert isinstance(caught.value.__cause__, aiormq.exceptions.ChannelPreconditionFailed)


async def test_get_hands_out_a_message_until_it_is_acked(
    settings: Settings, empty_vhost_url: str
) -> None:
    on_vhost = _on(settings, empty_vhost_url)
    async with BrokerAdmin.from_settings(on_vhost) as admin:
        await admin.declare_topology()
        async with Producer.from_settings(on_vhost) as producer:
            for i in range(2):
                await producer.publish(_dead_letter(i))
        first = await admin.get(DLQ)
        assert first is not None
        assert first.routing_key == "ml.summarize"
        await first.ack()
        second = await admin.get(DLQ)
        assert second is not None
        assert second.body != first.body
        assert await admin.get(DLQ) is None  # the second is out, not acked
    # Closing the admin returned the unacked message to its queue; the acked one is gone.
    async with BrokerAdmin.from_settings(on_vhost) as admin:
        assert await admin.queue_depths([DLQ]) == {DLQ: 1}
        again = await admin.get(DLQ)
        assert again is not None
        assert again.body == second.body
        await again.ack()
