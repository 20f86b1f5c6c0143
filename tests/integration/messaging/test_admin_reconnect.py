"""The broker admin (DLQ archiver, queue-depth gauge, topology) reconnects after losing its
connection, instead of reusing a dead one for ever.

aio-pika leaves ``Connection.is_closed`` False when the socket is lost or the broker
closes the connection (as a cluster node going down does), so an admin that trusted it
failed every housekeeping round until the relay restarted; found by
tests/integration/deploy/test_cluster_failover.py. The broker here is the shared one
behind a TCP proxy this test cuts.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from bookmarkai_ml.config import Settings
from bookmarkai_ml.errors import BrokerUnavailableError
from bookmarkai_ml.messaging.admin import BrokerAdmin
from support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

QUEUES = ["ml.summarize", "ml.summarize.dlq"]


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", 5672) as p:
        yield p


async def test_admin_reconnects_after_its_connection_is_lost(
    vhost_url: str, proxy: TcpProxy
) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{proxy.port}{urlsplit(vhost_url).path}"
    settings = Settings(broker_url=url, environment="test", _env_file=None)  # type: ignore[call-arg]
    async with BrokerAdmin.from_settings(settings) as admin:
        assert set(await admin.queue_depths(QUEUES)) == set(QUEUES)
        assert await admin.get("ml.summarize.dlq") is None

        proxy.down()
        with pytest.raises(BrokerUnavailableError):
            await admin.queue_depths(QUEUES)
        proxy.up()

        # The next round works again, on a new connection: depths and basic.get alike.
        assert set(await admin.queue_depths(QUEUES)) == set(QUEUES)
        assert await admin.get("ml.summarize.dlq") is None
