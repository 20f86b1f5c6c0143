"""Fixtures of the messaging integration tests (helpers live in ``support.harness``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bookmarkai_ml.db.engine import SessionFactory
from support.harness import PrivateBroker, Stack, declare_url, make_stack, purge


@pytest.fixture(scope="session")
def vhost_url(vhost_factory: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    """A vhost for the messaging tests alone, its topology declared once."""
    with vhost_factory() as url:
        declare_url(url)
        yield url


@pytest.fixture
def stack_with(
    clean_db: Engine, sessions: SessionFactory, pg_url: str, vhost_url: str, tmp_path: Path
) -> Iterator[Callable[[dict[str, str]], Stack]]:
    """Makes the test's stack with extra settings (env vars); stops its processes after."""
    made: list[Stack] = []

    def make(extra: dict[str, str]) -> Stack:
        s = make_stack(
            engine=clean_db,
            sessions=sessions,
            pg_url=pg_url,
            broker_url=vhost_url,
            tmp=tmp_path,
            extra=extra,
        )
        purge(s.settings)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop_all()


@pytest.fixture
def stack(stack_with: Callable[[dict[str, str]], Stack]) -> Stack:
    return stack_with({})


def unavailable(reason: str) -> None:
    """Skip outside CI; fail under CI, where every service must be up (see tests/conftest.py)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """A RabbitMQ node only this module stops and restarts; topology declared."""
    broker = PrivateBroker(tmp_path_factory.mktemp("rabbit"))
    try:
        broker.start()
    except (OSError, subprocess.SubprocessError) as exc:
        unavailable(f"cannot start a private RabbitMQ node: {exc}")
    declare_url(broker.url)
    yield broker
    broker.stop()


@pytest.fixture
def empty_vhost_url(own_amqp_url: str) -> str:
    """A vhost with nothing declared in it (for start-up declaration tests)."""
    return own_amqp_url
