"""The relay as a service: producer + broker admin + outbox relay + DLQ archiver + gauges,
and the webhook deliverer (``webhooks.deliverer``), so every relay process delivers webhooks.

Standalone: ``bookmarkai-ml relay``. Embedded (the API's lifespan)::

    service = RelayService(settings, engine=bootstrap.database(settings, pool_size=3).engine)
    await service.start()      # returns at once; never fails on a broker outage
    ...
    await service.stop()
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Engine

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.db.engine import make_session_factory
from bookmarkai_ml.db.jobs import PostgresJobRepository
from bookmarkai_ml.errors import BrokerUnavailableError, ConfigurationError, QueueNotFoundError
from bookmarkai_ml.messaging import dlq
from bookmarkai_ml.messaging.admin import BrokerAdmin
from bookmarkai_ml.messaging.producer import Producer
from bookmarkai_ml.messaging.relay import OutboxRelay
from bookmarkai_ml.observability import tracing
from bookmarkai_ml.observability.prometheus import (
    InstrumentedPublisher,
    ProducerMetrics,
    WebhookMetrics,
    zero_relay_series,
)
from bookmarkai_ml.services.retention import RetentionSweeper
from bookmarkai_ml.webhooks.deliverer import Deliverer
from bookmarkai_ml.webhooks.sender import Sender

log = logging.getLogger(__name__)


class RelayService:
    """Owns one producer, one broker admin and one relay; all outlive broker and database outages.

    The admin (topology, DLQ reads, queue depths) has its own connection, so none of its
    errors can reach the channel the relay publishes on.
    """

    def __init__(self, settings: Settings, *, engine: Engine) -> None:
        """``engine``: the caller's (``bootstrap.database``); the service never builds one.
        ``broker.time_scale`` (tests only) is applied here, once, for everything it builds."""
        settings = settings.on_test_clock()
        self.settings = settings
        self.engine = engine
        self.hooks = ProducerMetrics()
        zero_relay_series()  # dead letters and refused publishes show 0, not "No data"
        self.producer = Producer.from_settings(settings, hooks=self.hooks)
        self.admin = BrokerAdmin.from_settings(settings)
        self._sessions = make_session_factory(self.engine)
        self._topology_declared = False
        self.relay = OutboxRelay(
            engine=self.engine,
            publisher=InstrumentedPublisher(self.producer),
            jobs=PostgresJobRepository(self._sessions, lease_s=settings.worker.lease_s),
            settings=settings.outbox,
            hooks=self.hooks,
            maintenance=[
                self._archive_dead_letters,
                self._queue_depths,
                RetentionSweeper(self._sessions, settings.retention).prune,
            ],
            prepare=self._ensure_topology,
            max_attempts=settings.worker.max_retries + 1,
        )
        self.webhooks = Deliverer(
            sessions=self._sessions,
            settings=settings.webhooks,
            # The media SSRF guard and allow-list, checked again at every attempt.
            sender=Sender(
                timeout_s=settings.webhooks.timeout_s,
                allowed_hosts=settings.media.allowed_hosts,
            ),
            hooks=WebhookMetrics(),
        )

    async def _ensure_topology(self) -> None:
        """Declare the topology once per service; until it is, nothing is published.

        Raises:
            BrokerUnavailableError: the broker cannot be reached, or its queues disagree
                with the settings; either way the relay backs off and tries again, so
                fixing the broker needs no restart.
        """
        if self._topology_declared:
            return
        try:
            await self.admin.declare_topology()
        except ConfigurationError as exc:
            log.error("cannot declare the topology (%s): %s", exc.code, exc)
            raise BrokerUnavailableError(f"topology not declared: {exc}") from exc
        self._topology_declared = True
        await self._queue_depths()  # the gauge need not wait for the next housekeeping round

    async def _archive_dead_letters(self) -> None:
        if not self._topology_declared:  # the DLQs may not exist yet: wait for the relay
            return
        try:
            await dlq.archive(self.admin, self._sessions, on_archived=self.hooks.dead_letter)
        except (BrokerUnavailableError, QueueNotFoundError) as exc:
            log.warning("dead letters not archived this round: %s", exc)

    async def _queue_depths(self) -> None:
        if not self._topology_declared:  # passive declares of missing queues would fail
            return
        try:
            depths = await self.admin.queue_depths(list(TASKS.queues))
        except (BrokerUnavailableError, QueueNotFoundError) as exc:
            log.warning("queue depths not read this round: %s", exc)
            return
        self.hooks.queue_depths(depths)

    async def start(self) -> None:
        """Start relaying in the background and return at once.

        Nothing here waits for the broker: the relay declares the topology before its
        first drain and backs off until it can.
        """
        self.producer.start_health_checks()
        self.relay.start()
        self.webhooks.start()

    async def stop(self) -> None:
        await self.webhooks.stop()
        await self.relay.stop()
        await self.producer.close()
        await self.admin.close()

    async def run_until(self, stop: asyncio.Event) -> None:
        """Run standalone (``bookmarkai-ml relay``), tracing the publishes when configured."""
        traced = tracing.exporting(self.settings.telemetry)
        if traced:
            tracing.configure_tracing(self.settings.telemetry, component="relay")
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
            if traced:
                tracing.shutdown_tracing()
