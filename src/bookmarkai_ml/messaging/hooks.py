"""Observability hooks of the producer and the relay, and the producer's connection states.

The messaging core calls these small interfaces; ``observability.prometheus`` implements
them, so no metrics code is woven into the producer or the relay.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Protocol

from bookmarkai_ml.domain.breaker import BreakerState


class ConnectionState(IntEnum):
    """Values match the ``ml_producer_connection_state`` gauge."""

    DOWN = 0
    UP = 1
    BLOCKED = 2
    ALERT = 3


class ProducerHooks(Protocol):
    """Observability hooks; every method must be cheap and must not raise."""

    def connection_state(self, state: ConnectionState) -> None: ...
    def breaker_state(self, state: BreakerState) -> None: ...
    def confirm_timeout(self) -> None: ...
    def health_check_failed(self) -> None: ...
    def reconnected(self) -> None: ...


class NullHooks:
    """Hooks that record nothing."""

    def connection_state(self, state: ConnectionState) -> None:
        return None

    def breaker_state(self, state: BreakerState) -> None:
        return None

    def confirm_timeout(self) -> None:
        return None

    def health_check_failed(self) -> None:
        return None

    def reconnected(self) -> None:
        return None


class RelayHooks(Protocol):
    """The relay reports its backlog (unsent rows, age of the oldest) after housekeeping."""

    def backlog(self, rows: int, oldest_age_s: float) -> None: ...
