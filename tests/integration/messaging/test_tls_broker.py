"""amqps with peer verification against a private RabbitMQ node (SPEC §1 deployment: TLS).

The node is our own (its own node name, ports, data dir and Erlang cookie under a
temp dir); the shared broker on 5672 is never touched.  Certificates come from
``deploy/tls/gen-certs.sh``, the same script the docs tell operators to use; the node
boots with the shipped ``deploy/rabbitmq/conf.d/20-tls.conf`` and is also reached
through the shipped cluster ``haproxy.cfg`` (TLS pass-through).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest
from aiormq.exceptions import AMQPConnectionError
from kombu.connection import Connection

from bookmarkai_ml.config import BrokerSettings, Settings
from bookmarkai_ml.messaging import tls

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
GEN_CERTS = REPO / "deploy" / "tls" / "gen-certs.sh"
SHIPPED_TLS_CONF = REPO / "deploy" / "rabbitmq" / "conf.d" / "20-tls.conf"
SHIPPED_HAPROXY_CFG = REPO / "deploy" / "cluster" / "haproxy.cfg"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
NODE = f"tls-test-{uuid.uuid4().hex[:6]}@localhost"


@dataclass(frozen=True)
class Certs:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.dir / "client.pem"

    @property
    def key(self) -> Path:
        return self.dir / "client.key"


def _make_certs(out: Path) -> Certs:
    subprocess.run(["bash", str(GEN_CERTS), str(out)], check=True, capture_output=True)
    return Certs(out)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Wait until ``port`` accepts connections; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{proc.args!r} did not listen on {port} in {timeout_s}s")


def _node_config(certs: Certs, port: int) -> str:
    """The shipped ``20-tls.conf``, pointed at our certificates and a free loopback port."""
    shipped = SHIPPED_TLS_CONF.read_text()
    for old, new in (
        ("listeners.ssl.default = 5671", f"listeners.ssl.default = 127.0.0.1:{port}"),
        ("/etc/rabbitmq/certs", str(certs.dir)),
    ):
        assert old in shipped, f"{SHIPPED_TLS_CONF} no longer contains {old!r}"
        shipped = shipped.replace(old, new)
    return "listeners.tcp = none\n" + shipped


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return _make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def wrong_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A second, unrelated CA with its own client certificate."""
    return _make_certs(tmp_path_factory.mktemp("wrong-certs"))


@pytest.fixture(scope="module")
def tls_port(certs: Certs) -> Iterator[int]:
    """Start a private node with only the shipped ssl listener (verify_peer, no anonymous)."""
    if not (RABBIT_BIN / "rabbitmq-server").exists() or os.geteuid() != 0:
        reason = "a private RabbitMQ node needs rabbitmq-server and root"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)  # STYLE §10: under CI a missing service fails
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="rmq-tls-"))
    port = _free_port()
    (base / "home").mkdir()
    (base / "env.conf").write_text("")
    (base / "enabled_plugins").write_text("[].\n")  # no management port clash
    (base / "rabbitmq.conf").write_text(_node_config(certs, port))
    env = {
        **os.environ,
        "HOME": str(base / "home"),  # its own Erlang cookie
        "RABBITMQ_CONF_ENV_FILE": str(base / "env.conf"),
        "RABBITMQ_NODENAME": NODE,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(_free_port()),
        "RABBITMQ_DIST_PORT": str(_free_port()),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    log = (base / "server.out").open("wb")
    proc = subprocess.Popen(
        [str(RABBIT_BIN / "rabbitmq-server")], env=env, cwd=base, stdout=log, stderr=log
    )
    try:
        _wait_for_port(port, proc, timeout_s=90)
        yield port
    finally:
        subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", NODE, "stop"],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(base, ignore_errors=True)


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
    "case",
    [
        "client-trusts-wrong-ca",
        "client-cert-from-wrong-ca",
        "no-client-cert",
    ],
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


@pytest.fixture(scope="module")
def haproxy_amqps_port(tls_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Run the shipped ``deploy/cluster/haproxy.cfg``, its nodes pointed at our node."""
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("haproxy is not installed")
        pytest.skip("haproxy is not installed")
    config = SHIPPED_HAPROXY_CFG.read_text()
    front = _free_port()
    replacements = {"bind :5671": f"bind 127.0.0.1:{front}"}
    for plain in ("bind :5672", "bind :15672", "bind :8404"):
        replacements[plain] = f"bind 127.0.0.1:{_free_port()}"
    for node in ("rabbitmq1", "rabbitmq2", "rabbitmq3"):
        replacements[f"{node}:5671"] = f"127.0.0.1:{tls_port}"
        replacements[f"{node}:5672"] = "127.0.0.1:9"  # no plain listener on our node
        replacements[f"{node}:15672"] = "127.0.0.1:9"
    for old, new in replacements.items():
        assert old in config, f"{SHIPPED_HAPROXY_CFG} no longer contains {old!r}"
        config = config.replace(old, new)
    cfg = tmp_path_factory.mktemp("haproxy") / "haproxy.cfg"
    cfg.write_text(config)
    proc = subprocess.Popen(
        [haproxy, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(front, proc, timeout_s=20)
        yield front
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_amqps_through_the_cluster_haproxy_verifies_end_to_end(
    haproxy_amqps_port: int, certs: Certs, wrong_certs: Certs
) -> None:
    """HAProxy passes TLS through, so the node's certificate is what the client verifies."""
    settings = _settings(haproxy_amqps_port, certs.ca, certs.cert, certs.key)
    assert await _round_trip(settings) == b"over tls"
    wrong = _settings(haproxy_amqps_port, wrong_certs.ca, certs.cert, certs.key)
    with pytest.raises(AMQPConnectionError):
        await aio_pika.connect(**tls.aio_pika_connect_kwargs(wrong), timeout=10)
