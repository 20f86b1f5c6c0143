"""Broker administration: declare the topology, read queue depths, purge, fetch one message.

``producer.py`` publishes; this module is the other half of the RabbitMQ adapter. The
admin keeps a connection of its own, so nothing it does can touch the channel that
publishes and their confirms are in flight on: a passive declare of a missing queue
closes the channel it ran on (404 NOT_FOUND is a channel exception,
https://www.rabbitmq.com/amqp-0-9-1-reference#constants), and here that is one of the
admin's short-lived channels.

Every aio-pika / aiormq / socket error is translated at this boundary into the
project's error tree (``errors.py``), so callers never catch aio-pika's types:

- NOT_FOUND: ``QueueNotFoundError`` (the topology is not declared, or not yet);
- PRECONDITION_FAILED: ``ConfigurationError`` with code ``topology_mismatch`` (a queue
  exists with arguments other than ``messaging/topology.py`` gives it);
- ACCESS_REFUSED: ``ConfigurationError`` with code ``broker_access_refused``;
- anything else (refused or lost connection, closed channel, timeout):
  ``BrokerUnavailableError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection

from bookmarkai_ml.config import BrokerSettings, Settings
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.errors import (
    BookmarkAIError,
    BrokerUnavailableError,
    ConfigurationError,
    QueueNotFoundError,
)
from bookmarkai_ml.messaging import topology
from bookmarkai_ml.messaging.producer import CONNECTION_ERRORS
from bookmarkai_ml.messaging.tls import aio_pika_connect_kwargs

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message fetched with basic.get; call ``ack`` once it is safely stored."""

    body: bytes
    headers: Mapping[str, Any]
    message_id: str | None
    routing_key: str | None
    ack: Callable[[], Awaitable[None]]


def translate(exc: BaseException, doing: str) -> BookmarkAIError:
    """The project error for an aio-pika/aiormq/socket error raised while ``doing``."""
    reply = exc.args[0] if len(exc.args) == 1 else exc
    if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
        return QueueNotFoundError(f"{doing}: {reply}")
    if isinstance(exc, aiormq.exceptions.ChannelPreconditionFailed):
        return ConfigurationError(
            f"{doing}: the broker's queue differs from messaging/topology.py ({reply})",
            code="topology_mismatch",
        )
    if isinstance(exc, aiormq.exceptions.ChannelAccessRefused):
        return ConfigurationError(f"{doing}: {reply}", code="broker_access_refused")
    return BrokerUnavailableError(f"{doing}: {exc!r}")


def _alive(connection: AbstractConnection | None) -> bool:
    """Open, as the broker sees it too.

    aio-pika marks a connection closed only when we close it: after a lost socket or the
    broker's connection.close (541 INTERNAL_ERROR when a queue's node goes down) its
    ``is_closed`` stays False while the aiormq connection underneath is closed, and every
    new channel fails with "closed". Found by losing a cluster node under the relay
    (tests/integration/deploy/test_cluster_failover.py).
    """
    if connection is None or connection.is_closed:
        return False
    inner = getattr(getattr(connection, "transport", None), "connection", None)
    return inner is not None and not inner.is_closed


@contextlib.contextmanager
def _translated(doing: str) -> Iterator[None]:
    try:
        yield
    except CONNECTION_ERRORS as exc:
        raise translate(exc, doing) from exc


class BrokerAdmin:
    """Declares, inspects, purges and reads queues on its own connection."""

    def __init__(
        self,
        *,
        url: str,
        broker: BrokerSettings,
        ssl_context: ssl.SSLContext | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._url = url
        self._broker = broker
        self._ssl_context = ssl_context
        self._rand = rand
        self._backoff = Backoff(
            initial=broker.reconnect_initial_s,
            maximum=broker.reconnect_max_s,
            jitter=broker.reconnect_jitter,
        )
        self._lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        self._reader: AbstractChannel | None = None  # basic.get: open until the ack

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerAdmin:
        kwargs = aio_pika_connect_kwargs(settings)
        return cls(url=kwargs["url"], broker=settings.broker, ssl_context=kwargs.get("ssl_context"))

    async def __aenter__(self) -> BrokerAdmin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection; a fetched message not yet acked goes back to its queue."""
        connection, self._connection, self._reader = self._connection, None, None
        if connection is not None and not connection.is_closed:
            await asyncio.gather(connection.close(), return_exceptions=True)

    async def connect(self, *, attempts: int = 1) -> None:
        """Open the connection unless it is open, trying up to ``attempts`` times.

        Operations connect on first use with one attempt (the relay backs off between
        rounds); a command that may run while the broker starts passes the producer's
        ``reconnect_max_attempts`` and waits with the same backoff.

        Raises:
            BrokerUnavailableError: every attempt failed.
        """
        await self._open(attempts)

    async def _open(self, attempts: int = 1) -> AbstractConnection:
        async with self._lock:
            if _alive(self._connection):
                assert self._connection is not None
                return self._connection
            await self.close()  # a dead one: its reader channel goes with it
            for attempt in range(1, attempts + 1):
                try:
                    self._connection = await aio_pika.connect(
                        self._url, ssl_context=self._ssl_context
                    )
                    return self._connection
                except CONNECTION_ERRORS as exc:
                    if attempt == attempts:
                        raise BrokerUnavailableError(
                            f"broker unreachable after {attempts} attempt(s): {exc!r}"
                        ) from exc
                    delay = self._backoff.delay(attempt, rand=self._rand)
                    log.warning(
                        "admin connect attempt %d failed (%s); next in %.2fs", attempt, exc, delay
                    )
                    await asyncio.sleep(delay)
            raise BrokerUnavailableError("broker admin: no connect attempt allowed")

    @contextlib.asynccontextmanager
    async def _channel(self, doing: str) -> AsyncIterator[AbstractChannel]:
        """A short-lived channel; a channel error closes it and nothing else."""
        connection = await self._open()
        with _translated(doing):
            channel = await connection.channel(publisher_confirms=False)
            try:
                yield channel
            finally:
                if not channel.is_closed:
                    await asyncio.gather(channel.close(), return_exceptions=True)

    async def declare_topology(self) -> None:
        """Declare exchanges, task queues and DLQs idempotently (same args as Celery).

        Raises:
            BrokerUnavailableError: the broker cannot be reached.
            ConfigurationError: a queue exists with other arguments (``topology_mismatch``)
                or the user may not declare (``broker_access_refused``).
        """
        async with self._channel("declaring the topology") as channel:
            for spec in topology.EXCHANGES:
                await channel.declare_exchange(spec.name, spec.type, durable=True)
            for queue in topology.all_queues(self._broker):
                declared = await channel.declare_queue(
                    queue.name, durable=True, arguments=cast("Any", queue.arguments)
                )
                await declared.bind(queue.exchange, routing_key=queue.routing_key)

    async def queue_depths(self, names: list[str]) -> dict[str, int]:
        """Ready-message counts by passive declare (for the queue-depth gauge).

        Raises:
            BrokerUnavailableError: the broker cannot be reached.
            QueueNotFoundError: one of ``names`` is not declared.
        """
        depths: dict[str, int] = {}
        async with self._channel(f"reading the depths of {names}") as channel:
            for name in names:
                queue = await channel.declare_queue(name, passive=True)
                depths[name] = int(queue.declaration_result.message_count or 0)
        return depths

    async def purge(self, names: list[str]) -> None:
        """Drop every ready message of ``names`` (operators and tests).

        Raises:
            BrokerUnavailableError: the broker cannot be reached.
            QueueNotFoundError: one of ``names`` is not declared.
        """
        async with self._channel(f"purging {names}") as channel:
            for name in names:
                queue = await channel.get_queue(name, ensure=False)
                await queue.purge()

    async def _reading_channel(self) -> AbstractChannel:
        # One channel for every basic.get: a fetched message stays unacked on the
        # channel it came from, so this one stays open until close() or an error.
        if self._reader is None or self._reader.is_closed or not _alive(self._connection):
            connection = await self._open()
            self._reader = await connection.channel(publisher_confirms=False)
        return self._reader

    async def get(self, queue: str) -> ReceivedMessage | None:
        """basic.get one message without auto-ack; ``None`` when the queue is empty.

        Raises:
            BrokerUnavailableError: the broker cannot be reached (also from ``ack``; the
                message is then delivered again).
            QueueNotFoundError: ``queue`` is not declared.
        """
        doing = f"fetching from {queue!r}"
        with _translated(doing):
            channel = await self._reading_channel()
            q = await channel.get_queue(queue, ensure=False)
            incoming = await q.get(no_ack=False, fail=False)
        if incoming is None:
            return None

        async def ack() -> None:
            with _translated(f"acking a message from {queue!r}"):
                await incoming.ack()

        return ReceivedMessage(
            body=incoming.body,
            headers=dict(incoming.headers or {}),
            message_id=incoming.message_id,
            routing_key=incoming.routing_key,
            ack=ack,
        )


def declare_topology(settings: Settings) -> None:
    """Declare the topology from a synchronous command, before any worker consumes.

    ``up`` and ``worker`` call this first: a Celery worker binds every task queue to its
    delayed-delivery exchanges at start, and a queue another worker has not declared yet
    fails that with NOT_FOUND. Connecting waits with the producer's backoff, so a broker
    that is still starting is waited for.

    Raises:
        BrokerUnavailableError: the broker cannot be reached.
        ConfigurationError: a queue exists with other arguments, or no rights to declare.
    """

    async def declare() -> None:
        async with BrokerAdmin.from_settings(settings) as admin:
            await admin.connect(attempts=settings.broker.reconnect_max_attempts)
            await admin.declare_topology()

    asyncio.run(declare())
