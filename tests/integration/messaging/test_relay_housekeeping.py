"""Relay housekeeping on a fresh vhost: it waits for the topology, and fails in one line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from prometheus_client import generate_latest

from bookmarkai_ml.config import OutboxSettings
from bookmarkai_ml.db.jobs import PostgresJobRepository
from bookmarkai_ml.errors import BrokerUnavailableError
from bookmarkai_ml.fakes import FakePublisher
from bookmarkai_ml.messaging.relay import OutboxRelay
from bookmarkai_ml.messaging.service import RelayService
from support.harness import Stack

pytestmark = pytest.mark.integration


async def test_a_housekeeping_failure_is_one_line_with_its_cause(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    async def unreachable() -> None:
        try:
            raise ConnectionRefusedError("connection refused")
        except ConnectionRefusedError as exc:
            raise BrokerUnavailableError("reading queue depths") from exc

    relay = OutboxRelay(
        engine=stack.engine,
        jobs=PostgresJobRepository(stack.sessions, lease_s=stack.settings.worker.lease_s),
        publisher=FakePublisher(),
        settings=OutboxSettings(),
        maintenance=[unreachable],
        listen=False,
    )
    with caplog.at_level(logging.INFO, logger="bookmarkai_ml.messaging.relay"):
        await relay.maintain()
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.exc_info is None  # no traceback
    line = record.getMessage()
    assert "unreachable" in line
    assert "reading queue depths" in line
    assert "connection refused" in line


async def test_housekeeping_waits_for_the_topology_of_a_fresh_vhost(
    stack: Stack,
    vhost_factory: Callable[[], AbstractContextManager[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with vhost_factory() as fresh:
        settings = stack.settings.model_copy(update={"broker_url": fresh})
        service = RelayService(settings, engine=stack.engine)
        try:
            with caplog.at_level(logging.INFO):
                await service.relay.maintain()  # no DLQ or task queue exists yet
                assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
                await service.relay.drain()  # nothing due; the topology comes first in run()
                await service._ensure_topology()  # what the relay's first round does
            exported = generate_latest().decode()
            assert 'ml_queue_depth{queue="ml.summarize"} 0.0' in exported
            # The series exists (at 0 unless an earlier test in this process archived one).
            assert 'ml_dead_letters_total{queue="ml.summarize.dlq"} ' in exported
            assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        finally:
            await service.stop()
