"""In-package fakes of the ports, for unit tests (like dramatiq's StubBroker).

Each area adds the fakes of the ports it owns; they never stand in for a real
service in an integration test.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from bookmarkai_ml.errors import BrokerUnavailableError, BudgetExceededError, PublishRejectedError
from bookmarkai_ml.ports import OutgoingMessage


class FakeBudgetLedger:
    """``ports.BudgetLedger`` in memory: one window of ``limit_usd`` per task (None = no limit)."""

    def __init__(self, limit_usd: Decimal | None = None) -> None:
        self.limit_usd = limit_usd
        self.held: dict[UUID, tuple[str, Decimal]] = {}
        self.released: list[UUID] = []
        self._lock = threading.Lock()

    def reserve(self, *, job_id: UUID, task: str, usd: Decimal) -> None:
        with self._lock:
            spent = sum((u for t, u in self.held.values() if t == task), Decimal(0))
            if self.limit_usd is not None and spent + usd > self.limit_usd:
                raise BudgetExceededError(
                    f"{task} budget of {self.limit_usd} USD is full",
                    retry_after=datetime.now(UTC) + timedelta(hours=1),
                )
            self.held[job_id] = (task, usd)

    def release(self, *, job_id: UUID) -> None:
        with self._lock:
            if self.held.pop(job_id, None) is not None:
                self.released.append(job_id)


class FakePublisher:
    """``ports.Publisher`` that records messages; can be told to fail the next publishes."""

    def __init__(self) -> None:
        self.published: list[OutgoingMessage] = []
        self.fail_next: list[Exception] = []

    async def publish(self, message: OutgoingMessage) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.published.append(message)

    def fail_with_outage(self, times: int = 1) -> None:
        self.fail_next.extend(BrokerUnavailableError("fake outage") for _ in range(times))

    def fail_with_rejection(self, times: int = 1) -> None:
        self.fail_next.extend(PublishRejectedError("fake unroutable") for _ in range(times))
