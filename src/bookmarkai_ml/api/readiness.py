"""Readiness probes: can this process reach the database and the broker right now?

The broker probe keeps one connection (made by the messaging producer, with a single
connect attempt instead of the publish path's ten) and passive-declares the task
exchange on each probe; a probe never waits longer than ``timeout_s``.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.errors import BrokerUnavailableError, DatabaseUnavailableError
from bookmarkai_ml.messaging.producer import Producer
from bookmarkai_ml.messaging.tls import aio_pika_connect_kwargs

PROBE_TIMEOUT_S = 3.0


def check_database(engine: Engine) -> None:
    """``SELECT 1`` on a pooled connection.

    Raises:
        DatabaseUnavailableError: the query failed.
    """
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise DatabaseUnavailableError(f"database check failed: {type(exc).__name__}") from exc


class BrokerProbe:
    """A long-lived probe connection to the broker, checked on demand."""

    def __init__(self, settings: Settings, *, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        kwargs = aio_pika_connect_kwargs(settings)
        self._producer = Producer(
            url=kwargs["url"],
            broker=settings.broker.model_copy(update={"reconnect_max_attempts": 1}),
            ssl_context=kwargs.get("ssl_context"),
        )
        self._timeout_s = timeout_s

    async def __call__(self) -> None:
        """Raises ``BrokerUnavailableError`` when the broker cannot be reached in time."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._producer.start(health_check=False)
                await self._producer.health_check()
        except TimeoutError as exc:
            raise BrokerUnavailableError("broker check timed out") from exc

    async def close(self) -> None:
        await self._producer.close()
