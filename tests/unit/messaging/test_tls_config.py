"""How settings switch TLS on and what each AMQP client is handed (no broker needed)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from bookmarkai_ml.config import BrokerSettings, Settings
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.messaging import tls

GEN_CERTS = Path(__file__).resolve().parents[3] / "deploy" / "tls" / "gen-certs.sh"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(GEN_CERTS), str(out)], check=True, capture_output=True)
    return out


def _settings(url: str | None, **broker: Path | None) -> Settings:
    return Settings(broker_url=url, broker=BrokerSettings(**broker))


def test_plain_amqp_stays_plain() -> None:
    settings = _settings("amqp://u:p@rabbit:5672/v")
    assert not tls.tls_enabled(settings)
    assert tls.aio_pika_connect_kwargs(settings) == {"url": "amqp://u:p@rabbit:5672/v"}
    assert tls.celery_broker_options(settings) == {
        "broker_url": "amqp://u:p@rabbit:5672/v",
        "broker_use_ssl": False,
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://u:p@rabbit/v", "amqps://u:p@rabbit:5671/v"),
        ("amqp://u:p@rabbit:15671/v", "amqps://u:p@rabbit:15671/v"),
        ("amqps://u:p@rabbit/v", "amqps://u:p@rabbit/v"),
    ],
)
def test_a_ca_file_upgrades_the_url(certs: Path, url: str, expected: str) -> None:
    settings = _settings(url, tls_ca_file=certs / "ca.pem")
    assert tls.tls_enabled(settings)
    assert tls.broker_url(settings) == expected


def test_amqps_url_alone_uses_system_trust(certs: Path) -> None:
    settings = _settings("amqps://u:p@rabbit/v")
    kwargs = tls.aio_pika_connect_kwargs(settings)
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert tls.celery_broker_options(settings)["broker_use_ssl"] == {
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": "rabbit",
        "tls_minimum_version": ssl.TLSVersion.TLSv1_2,
    }


def test_context_verifies_peer_and_hostname(certs: Path) -> None:
    broker = BrokerSettings(
        tls_ca_file=certs / "ca.pem",
        tls_cert_file=certs / "client.pem",
        tls_key_file=certs / "client.key",
    )
    context = tls.ssl_context(broker)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "BookmarkAI ML test CA"),),)
    ]


def test_celery_options_carry_every_file(certs: Path) -> None:
    settings = _settings(
        "amqps://u:p@rabbitmq-haproxy:5671/",
        tls_ca_file=certs / "ca.pem",
        tls_cert_file=certs / "client.pem",
        tls_key_file=certs / "client.key",
    )
    ssl_options = tls.celery_broker_options(settings)["broker_use_ssl"]
    assert ssl_options["ca_certs"] == str(certs / "ca.pem")
    assert ssl_options["certfile"] == str(certs / "client.pem")
    assert ssl_options["keyfile"] == str(certs / "client.key")
    assert ssl_options["server_hostname"] == "rabbitmq-haproxy"


def test_missing_files_and_orphan_keys_are_configuration_errors(
    certs: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="CA file not found"):
        tls.ssl_context(BrokerSettings(tls_ca_file=tmp_path / "nope.pem"))
    with pytest.raises(ConfigurationError, match="without tls_cert_file"):
        tls.ssl_context(BrokerSettings(tls_key_file=certs / "client.key"))
    with pytest.raises(ConfigurationError, match="not usable"):
        # A key that does not belong to the certificate.
        tls.ssl_context(
            BrokerSettings(tls_cert_file=certs / "client.pem", tls_key_file=certs / "ca.key")
        )
    with pytest.raises(ConfigurationError, match="BROKER_URL is not set"):
        tls.broker_url(_settings(None))
