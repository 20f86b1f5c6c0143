"""The reliable aio-pika producer: publishing only (``admin.py`` declares and inspects).

It implements ``ports.Publisher``: ``publish`` returns only after the broker confirmed
the message (``docs/architecture.md``, "How a job flows"). Behaviour:

- publisher confirms with a confirm timeout (``broker.confirm_timeout_s``); a nack or a
  timeout is a failure (https://www.rabbitmq.com/docs/confirms#publisher-confirms);
- ``mandatory`` publishes: a message the broker cannot route comes back
  (basic.return) and is a permanent ``PublishRejectedError`` (a completion event is
  published with ``mandatory`` off: see ``messaging/events.py``);
- flow control: while the broker has blocked publishers (``connection.blocked``,
  a memory or disk alarm, https://www.rabbitmq.com/docs/connection-blocked) a
  publish fails fast instead of hanging until its confirm times out;
- reconnect with exponential backoff and jitter, at most ``reconnect_max_attempts``
  attempts, then the ALERT state (the next publish starts a new round). One round is in
  flight at a time: every publish that finds the connection down waits on that round,
  so N concurrent publishes during an outage make one schedule of attempts, not N;
- a circuit breaker fed by failed publishes and failed connection attempts: once open,
  new publishes fail at once, and a reconnect round in progress stops, failing the
  publishes waiting on it; after the cooldown one round probes the broker again;
- a periodic health check (a passive exchange declare) that reconnects through the
  same shared round;
  ``docs/configuration.md`` lists the ``broker`` group's numbers.

The message-level retry lives in the outbox relay, where a retried message survives a
crash. Metrics arrive through ``ProducerHooks`` (``observability.prometheus`` implements
them), so this module has no metrics code.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable
from typing import cast

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection

from bookmarkai_ml.config import BrokerSettings, Settings
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.domain.breaker import CircuitBreaker
from bookmarkai_ml.errors import BrokerUnavailableError, PublishRejectedError
from bookmarkai_ml.messaging import topology
from bookmarkai_ml.messaging.hooks import ConnectionState, NullHooks, ProducerHooks
from bookmarkai_ml.messaging.tls import aio_pika_connect_kwargs
from bookmarkai_ml.observability.spans import producer_span
from bookmarkai_ml.ports import OutgoingMessage

log = logging.getLogger(__name__)

#: What aio-pika/aiormq raise when the connection or channel is gone (``admin`` too).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError,
    aio_pika.exceptions.AMQPException,
    ConnectionError,
    OSError,
    RuntimeError,  # aiormq's ChannelInvalidStateError on a closed channel
)

#: AMQP ``delivery_mode`` 2: the broker writes the message to disk (quorum queues always do).
PERSISTENT = 2


def _is_blocked(connection: AbstractConnection) -> bool:
    # aiormq tracks connection.blocked/unblocked in a private event and silently
    # holds the socket writer while blocked; we read it to fail fast instead.
    inner = getattr(getattr(connection, "transport", None), "connection", None)
    event = getattr(inner, "_Connection__connection_unblocked", None)
    return isinstance(event, asyncio.Event) and not event.is_set()


class Producer:
    """Publishes with confirms over one connection; safe to share across tasks."""

    def __init__(
        self,
        *,
        url: str,
        broker: BrokerSettings,
        ssl_context: ssl.SSLContext | None = None,
        hooks: ProducerHooks | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._url = url
        self._broker = broker
        self._ssl_context = ssl_context
        self._hooks: ProducerHooks = hooks or NullHooks()
        self._rand = rand
        self._backoff = Backoff(
            initial=broker.reconnect_initial_s,
            maximum=broker.reconnect_max_s,
            jitter=broker.reconnect_jitter,
        )
        self._breaker = CircuitBreaker(
            threshold=broker.breaker_threshold, cooldown_s=broker.breaker_cooldown_s
        )
        self._window = asyncio.Semaphore(broker.in_flight)
        self._reconnecting: asyncio.Task[AbstractChannel] | None = None
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._state = ConnectionState.DOWN
        self._ever_connected = False

    @classmethod
    def from_settings(cls, settings: Settings, *, hooks: ProducerHooks | None = None) -> Producer:
        kwargs = aio_pika_connect_kwargs(settings)
        return cls(
            url=kwargs["url"],
            broker=settings.broker,
            ssl_context=kwargs.get("ssl_context"),
            hooks=hooks,
        )

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    def _set_state(self, state: ConnectionState) -> None:
        if state is not self._state:
            log.info("producer connection %s -> %s", self._state.name, state.name)
        self._state = state
        self._hooks.connection_state(state)

    async def start(self, *, health_check: bool = True) -> None:
        """Connect (with the reconnect policy) and start the periodic health check.

        Raises:
            BrokerUnavailableError: every reconnect attempt failed (ALERT state).
        """
        await self._ensure_channel()
        if health_check:
            self.start_health_checks()

    def start_health_checks(self) -> None:
        """Run the periodic health check in the background (connects lazily)."""
        if self._health_task is None:
            self._health_task = asyncio.create_task(self._health_loop(), name="producer-health")

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
            self._health_task = None
        await self._drop_connection()
        self._set_state(ConnectionState.DOWN)

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- connection management ------------------------------------------------

    async def _drop_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            await asyncio.gather(connection.close(), return_exceptions=True)

    async def _lost(self, connection: AbstractConnection) -> bool:
        """Drop ``connection`` if it is still the current one; True if this call did.

        Publishes in flight on one connection all fail with it; only the first one drops
        it, so a round that already reconnected is never torn down by a late failure.
        """
        if self._connection is not connection:
            return False
        await self._drop_connection()
        return True

    def _usable(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def _ensure_channel(self) -> AbstractChannel:
        """The open channel, or the outcome of the one reconnect round in flight.

        Raises:
            BrokerUnavailableError: the round ran out of attempts or the breaker opened.
        """
        if self._usable():
            assert self._channel is not None
            return self._channel
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(self._reconnect(), name="producer-reconnect")
            # Retrieved here too, so a round nobody waits for any more logs nothing.
            self._reconnecting.add_done_callback(lambda t: t.cancelled() or t.exception())
        # shield: a waiter that is cancelled (a relay drain's deadline) leaves the round
        # running for the others.
        return await asyncio.shield(self._reconnecting)

    async def _reconnect(self) -> AbstractChannel:
        await self._drop_connection()
        last: BaseException | None = None
        for attempt in range(1, self._broker.reconnect_max_attempts + 1):
            try:
                connection = await aio_pika.connect(self._url, ssl_context=self._ssl_context)
                # on_return_raises: a basic.return fails the confirm with PublishError.
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            except CONNECTION_ERRORS as exc:
                last = exc
                self._failed()
                if self._state is not ConnectionState.ALERT:  # ALERT holds until we connect
                    self._set_state(ConnectionState.DOWN)
                if attempt == self._broker.reconnect_max_attempts:
                    break
                if not self._breaker.allow():
                    raise BrokerUnavailableError(
                        f"circuit breaker open after connect attempt {attempt}: {exc}",
                        retry_after_s=self._breaker.retry_after_s(),
                    ) from exc
                delay = self._backoff.delay(attempt, rand=self._rand)
                log.warning(
                    "broker connect attempt %d failed (%s); next in %.2fs", attempt, exc, delay
                )
                await asyncio.sleep(delay)
                continue
            self._connection, self._channel = connection, channel
            if self._ever_connected:
                self._hooks.reconnected()
            self._ever_connected = True
            self._succeeded()
            self._set_state(ConnectionState.UP)
            return channel
        self._set_state(ConnectionState.ALERT)
        raise BrokerUnavailableError(
            f"broker unreachable after {self._broker.reconnect_max_attempts} attempts: {last}"
        )

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self._broker.health_check_interval_s)
            try:
                await self.health_check()
            except BrokerUnavailableError as exc:
                log.warning("producer health check failed: %s", exc)

    async def health_check(self) -> None:
        """Passive-declare the task exchange on a fresh channel; reconnect on failure
        (through the shared round; not while the breaker is open).

        Raises:
            BrokerUnavailableError: the check failed and reconnecting failed too.
        """
        if not self._breaker.allow():
            self._hooks.health_check_failed()
            raise BrokerUnavailableError(
                "circuit breaker open", retry_after_s=self._breaker.retry_after_s()
            )
        try:
            await self._ensure_channel()
            assert self._connection is not None
            probe = await self._connection.channel(publisher_confirms=False)
            try:
                await probe.get_exchange(topology.TASK_EXCHANGE, ensure=True)
            finally:
                await asyncio.gather(probe.close(), return_exceptions=True)
        except (*CONNECTION_ERRORS, BrokerUnavailableError) as exc:  # type: ignore[misc]
            self._hooks.health_check_failed()
            try:
                await self._drop_connection()
                await self._ensure_channel()
            except BrokerUnavailableError as again:
                raise BrokerUnavailableError(
                    f"health check failed: {exc}; reconnecting failed: {again}"
                ) from exc
            raise BrokerUnavailableError(f"health check failed (reconnected): {exc}") from exc

    # -- publishing -------------------------------------------------------------

    def _failed(self) -> None:
        self._breaker.record_failure()
        self._hooks.breaker_state(self._breaker.state)

    def _succeeded(self) -> None:
        if self._breaker.consecutive_failures:
            self._breaker.record_success()
            self._hooks.breaker_state(self._breaker.state)

    async def publish(self, message: OutgoingMessage) -> None:
        """Publish and wait for the broker's confirm.

        Raises:
            BrokerUnavailableError: breaker open, connection down, blocked, nack, or timeout.
            PublishRejectedError: the message is too large or unroutable.
        """
        if len(message.body) > self._broker.max_message_bytes:
            raise PublishRejectedError(
                f"message of {len(message.body)} bytes exceeds {self._broker.max_message_bytes}",
                code="message_too_large",
            )
        if not self._breaker.allow():
            raise BrokerUnavailableError(
                "circuit breaker open", retry_after_s=self._breaker.retry_after_s()
            )
        # A PRODUCER span parented by the message's own traceparent (the job's), which
        # the consumer continues; no aio-pika instrumentation matches our SDK release.
        headers = dict(message.headers)
        with producer_span(
            f"publish {message.routing_key}",
            headers,
            queue=message.exchange or message.routing_key,
            routing_key=message.routing_key,
            message_id=message.message_id,
        ):
            async with self._window:
                await self._publish_once(message, headers)

    async def _publish_once(self, message: OutgoingMessage, headers: dict[str, object]) -> None:
        # Straight to aiormq, the channel under aio-pika's: aio-pika's Message and
        # Exchange.publish would build these same properties and frames, for ~40 us more
        # a publish (bench/producer.py). aio-pika still owns the connection and channel.
        properties = aiormq.spec.Basic.Properties(
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            headers=cast("aiormq.abc.FieldTable", headers),
            delivery_mode=PERSISTENT,
            correlation_id=message.message_id,
            message_id=message.message_id,
        )
        # The reconnect round counts its own failed attempts against the breaker; the
        # publishes waiting on it add nothing more.
        channel = await self._ensure_channel()
        connection = self._connection
        assert connection is not None
        if _is_blocked(connection):
            # Flow control, not a failing broker: fail fast without feeding the breaker,
            # which would stay open for its cooldown after the alarm clears.
            self._set_state(ConnectionState.BLOCKED)
            raise BrokerUnavailableError("broker has blocked publishers (resource alarm)")
        if self._state is ConnectionState.BLOCKED:
            self._set_state(ConnectionState.UP)
        try:
            underlay = await channel.get_underlay_channel()
            await underlay.basic_publish(
                message.body,
                exchange=message.exchange,
                routing_key=message.routing_key,
                properties=properties,
                mandatory=message.mandatory,
                timeout=self._broker.confirm_timeout_s,
            )
        except BrokerUnavailableError:
            self._failed()
            raise
        except aiormq.exceptions.PublishError as exc:
            # basic.return: the broker is healthy, the message has nowhere to go.
            self._succeeded()
            raise PublishRejectedError(
                f"unroutable: exchange={message.exchange!r} routing_key={message.routing_key!r}",
                code="unroutable",
            ) from exc
        except TimeoutError as exc:
            self._hooks.confirm_timeout()
            self._failed()
            if _is_blocked(connection):
                # Blocked while publishing: keep the connection (RabbitMQ blocks a
                # fresh one too) and fail the next publishes fast until unblocked.
                self._set_state(ConnectionState.BLOCKED)
                raise BrokerUnavailableError(
                    "broker has blocked publishers (resource alarm)"
                ) from exc
            await self._lost(connection)  # a confirm that never came: start afresh
            raise BrokerUnavailableError(
                f"no confirm within {self._broker.confirm_timeout_s}s"
            ) from exc
        except aiormq.exceptions.DeliveryError as exc:
            self._failed()
            # A channel that nacked (a quorum queue with no leader yet) can keep nacking
            # after a leader is elected; a new connection publishes at once.
            await self._lost(connection)
            raise BrokerUnavailableError(f"broker nacked the message: {exc}") from exc
        except CONNECTION_ERRORS as exc:
            # One failure per lost connection, not one per publish in flight on it.
            if await self._lost(connection):
                self._failed()
            raise BrokerUnavailableError(f"publish failed: {exc!r}") from exc
        self._succeeded()
