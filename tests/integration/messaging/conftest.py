"""Fixtures of the messaging integration tests (helpers live in ``bkml_harness``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bkml_harness import Stack, declare, make_stack, purge, rabbitmqctl
from sqlalchemy import Engine

from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import SessionFactory


@pytest.fixture(scope="session")
def vhost_url(amqp_url: str) -> Iterator[str]:
    """A vhost for the messaging tests alone, its topology declared once."""
    base = amqp_url.rsplit("/", 1)[0]
    vhost = f"m_{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = f"{base}/{vhost}"
    declare(Settings(broker_url=url, environment="test", _env_file=None))  # type: ignore[call-arg]
    yield url
    rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def stack(
    clean_db: Engine, sessions: SessionFactory, pg_url: str, vhost_url: str, tmp_path: Path
) -> Iterator[Stack]:
    s = make_stack(
        engine=clean_db, sessions=sessions, pg_url=pg_url, broker_url=vhost_url, tmp=tmp_path
    )
    purge(s.settings)
    yield s
    s.stop_all()
