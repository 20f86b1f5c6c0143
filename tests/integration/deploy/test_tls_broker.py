"""amqps with peer verification against a private RabbitMQ node (docs/deployment.md, "TLS").

The node boots with the shipped ``deploy/rabbitmq/conf.d/20-tls.conf`` and
certificates from ``deploy/tls/gen-certs.sh`` (the script the docs give operators),
and is also reached through the shipped cluster ``haproxy.cfg`` (TLS pass-through).
The shared broker on 5672 is never touched.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from aiormq.exceptions import AMQPConnectionError
from kombu.connection import Connection

from bookmarkai_ml.config import BrokerSettings, Settings
from bookmarkai_ml.messaging import tls
from support.rabbit_nodes import (
    DEPLOY,
    Certs,
    NodeFactory,
    free_port,
    make_certs,
    rewrite,
    shipped_haproxy,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TLS_CONF = DEPLOY / "rabbitmq" / "conf.d" / "20-tls.conf"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def wrong_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A second, unrelated CA with its own client certificate."""
    return make_certs(tmp_path_factory.mktemp("wrong-certs"))


@pytest.fixture(scope="module")
def tls_port(node_factory: NodeFactory, certs: Certs) -> int:
    """A node with only the shipped ssl listener (verify_peer, fail_if_no_peer_cert)."""
    port = free_port()
    config = rewrite(
        TLS_CONF.read_text(),
        {
            "listeners.ssl.default = 5671": f"listeners.ssl.default = 127.0.0.1:{port}",
            "/etc/rabbitmq/certs": str(certs.dir),
        },
        source=TLS_CONF,
    )
    node_factory.start(
        f"tls-{uuid.uuid4().hex[:6]}@localhost", "listeners.tcp = none\n" + config, listen_port=port
    )
    return port


@pytest.fixture(scope="module")
def haproxy_amqps_port(tls_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The shipped cluster ``haproxy.cfg``, its three nodes pointed at our TLS node."""
    backends = {f"rabbitmq{i}:5671": tls_port for i in (1, 2, 3)}
    with shipped_haproxy(
        tmp_path_factory.mktemp("haproxy"), front="5671", backends=backends
    ) as port:
        yield port


def _settings(port: int, ca: Path, cert: Path | None, key: Path | None) -> Settings:
    broker = BrokerSettings(tls_ca_file=ca, tls_cert_file=cert, tls_key_file=key)
    # amqp:// on purpose: configuring a CA alone must switch TLS on.
    return Settings(broker_url=f"amqp://guest:guest@localhost:{port}/", broker=broker)


async def _round_trip(settings: Settings) -> bytes:
    """Publish with confirms and read the message back; returns its body."""
    kwargs = tls.aio_pika_connect_kwargs(settings)
    assert kwargs["url"].startswith("amqps://")
    connection = await aio_pika.connect(**kwargs, timeout=15)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(exclusive=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b"over tls", headers={"traceparent": "x"}), routing_key=queue.name
        )
        message = await queue.get(timeout=10)
        await message.ack()
    return bytes(message.body)


async def test_aio_pika_publishes_and_consumes_over_verified_tls(
    tls_port: int, certs: Certs
) -> None:
    assert await _round_trip(_settings(tls_port, certs.ca, certs.cert, certs.key)) == b"over tls"


def test_celery_kombu_options_connect_over_verified_tls(tls_port: int, certs: Certs) -> None:
    options = tls.celery_broker_options(_settings(tls_port, certs.ca, certs.cert, certs.key))
    connection = Connection(options["broker_url"], ssl=options["broker_use_ssl"])  # type: ignore[no-untyped-call]
    with connection as conn:
        queue = conn.SimpleQueue(f"tls-{uuid.uuid4().hex[:8]}", queue_opts={"auto_delete": True})
        queue.put({"n": 1})
        message = queue.get(timeout=10)
        message.ack()
        queue.close()
    assert message.payload == {"n": 1}


@pytest.mark.parametrize(
    "case", ["client-trusts-wrong-ca", "client-cert-from-wrong-ca", "no-client-cert"]
)
async def test_unverified_peers_are_refused(
    tls_port: int, certs: Certs, wrong_certs: Certs, case: str
) -> None:
    ca, cert, key = {
        "client-trusts-wrong-ca": (wrong_certs.ca, wrong_certs.cert, wrong_certs.key),
        "client-cert-from-wrong-ca": (certs.ca, wrong_certs.cert, wrong_certs.key),
        "no-client-cert": (certs.ca, None, None),
    }[case]
    kwargs = tls.aio_pika_connect_kwargs(_settings(tls_port, ca, cert, key))
    with pytest.raises(AMQPConnectionError):
        await asyncio.wait_for(aio_pika.connect(**kwargs, timeout=10), timeout=20)


async def test_amqps_through_the_cluster_haproxy_verifies_end_to_end(
    haproxy_amqps_port: int, certs: Certs, wrong_certs: Certs
) -> None:
    """HAProxy passes TLS through, so the node's certificate is what the client verifies."""
    settings = _settings(haproxy_amqps_port, certs.ca, certs.cert, certs.key)
    assert await _round_trip(settings) == b"over tls"
    wrong = _settings(haproxy_amqps_port, wrong_certs.ca, certs.cert, certs.key)
    with pytest.raises(AMQPConnectionError):
        await aio_pika.connect(**tls.aio_pika_connect_kwargs(wrong), timeout=10)
