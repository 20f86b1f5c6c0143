"""TLS to RabbitMQ: peer verification against a custom CA, optional client certificate.

TLS is switched on by the connection string (``amqps://``) or by the environment:
setting ``BOOKMARKAI_ML_BROKER__TLS_CA_FILE`` (or a client certificate) upgrades an
``amqp://`` URL to ``amqps://`` on port 5671 (docs/deployment.md, "TLS").  Verification is
never optional: the server certificate must chain to the CA and match the host name in
the URL (https://www.rabbitmq.com/docs/ssl#peer-verification).

The two AMQP clients take TLS differently, so one function serves each:
:func:`aio_pika_connect_kwargs` hands aio-pika a ready ``ssl.SSLContext``;
:func:`celery_broker_options` gives Celery the ``broker_use_ssl`` dict that py-amqp
turns into an equivalent context (it cannot take a context object).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bookmarkai_ml.config import BrokerSettings, Settings
from bookmarkai_ml.errors import ConfigurationError

__all__ = [
    "AMQPS_PORT",
    "aio_pika_connect_kwargs",
    "broker_url",
    "celery_broker_options",
    "ssl_context",
    "tls_enabled",
]

AMQPS_PORT = 5671
_MIN_VERSION = ssl.TLSVersion.TLSv1_2  # RabbitMQ's own recommendation; 1.0/1.1 are broken.


def tls_enabled(settings: Settings) -> bool:
    """True when the URL is ``amqps://`` or a CA or client certificate is configured."""
    broker = settings.broker
    configured = any((broker.tls_ca_file, broker.tls_cert_file, broker.tls_key_file))
    return configured or (settings.broker_url or "").startswith("amqps://")


def broker_url(settings: Settings) -> str:
    """Return the broker URL, upgraded to ``amqps://`` (port 5671 unless given) under TLS.

    Raises:
        ConfigurationError: no broker URL is set.
    """
    if not settings.broker_url:
        raise ConfigurationError("BOOKMARKAI_ML_BROKER_URL is not set")
    parts = urlsplit(settings.broker_url)
    if not tls_enabled(settings) or parts.scheme == "amqps":
        return settings.broker_url
    netloc = parts.netloc if parts.port else f"{parts.netloc}:{AMQPS_PORT}"
    return urlunsplit(("amqps", netloc, parts.path, parts.query, parts.fragment))


def _existing(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        raise ConfigurationError(f"broker TLS {what} not found: {path}")
    return str(path)


def _checked_files(broker: BrokerSettings) -> tuple[str | None, str | None, str | None]:
    """Return (ca, cert, key) paths as strings after checking they exist and pair up."""
    if broker.tls_key_file and not broker.tls_cert_file:
        raise ConfigurationError("broker tls_key_file is set without tls_cert_file")
    return (
        _existing(broker.tls_ca_file, "CA file"),
        _existing(broker.tls_cert_file, "certificate"),
        _existing(broker.tls_key_file, "key"),
    )


def ssl_context(broker: BrokerSettings) -> ssl.SSLContext:
    """Build a client context that verifies the broker, optionally presenting a client cert.

    Without ``tls_ca_file`` the system trust store is used.

    Raises:
        ConfigurationError: a file is missing or unreadable, or the key doesn't match.
    """
    ca, cert, key = _checked_files(broker)
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        if cert:
            context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(f"broker TLS files are not usable: {exc}") from exc
    # create_default_context already means CERT_REQUIRED + check_hostname; say it
    # explicitly so that a future default change cannot weaken it silently.
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    context.minimum_version = _MIN_VERSION
    return context


def aio_pika_connect_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``aio_pika.connect(_robust)``: ``url``, and ``ssl_context`` if TLS."""
    url = broker_url(settings)
    if not tls_enabled(settings):
        return {"url": url}
    return {"url": url, "ssl_context": ssl_context(settings.broker)}


def celery_broker_options(settings: Settings) -> dict[str, Any]:
    """Celery settings ``broker_url`` and ``broker_use_ssl`` for ``app.conf.update``.

    ``broker_use_ssl`` follows py-amqp's ``SSLTransport`` keys; ``server_hostname``
    turns on SNI and host-name checking there, as aio-pika does by default.
    """
    url = broker_url(settings)
    if not tls_enabled(settings):
        return {"broker_url": url, "broker_use_ssl": False}
    ca, cert, key = _checked_files(settings.broker)
    options: dict[str, Any] = {
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": urlsplit(url).hostname,
        "tls_minimum_version": _MIN_VERSION,
    }
    if ca:
        options["ca_certs"] = ca
    if cert:
        options["certfile"] = cert
        options["keyfile"] = key
    return {"broker_url": url, "broker_use_ssl": options}
