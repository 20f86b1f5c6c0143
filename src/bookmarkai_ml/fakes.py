"""In-package fakes of the ports, for unit tests (like dramatiq's StubBroker).

Each area adds the fakes of the ports it owns; they never stand in for a real
service in an integration test.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID, uuid4

from bookmarkai_ml.errors import BrokerUnavailableError, BudgetExceededError, PublishRejectedError
from bookmarkai_ml.ports import BudgetLedger, OutgoingMessage, Transcriber, Transcript


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


class FakeJobContext:
    """``ports.JobContext`` over any ``BudgetLedger``; records reservations and heartbeats."""

    def __init__(
        self,
        *,
        job_id: UUID | None = None,
        ledger: BudgetLedger | None = None,
        task: str = "transcribe",
    ) -> None:
        self.job_id = job_id or uuid4()
        self.ledger: BudgetLedger = ledger or FakeBudgetLedger()
        self.task = task
        self.reserved: list[Decimal] = []
        self.heartbeats = 0

    def reserve(self, estimate_usd: Decimal) -> None:
        self.ledger.reserve(job_id=self.job_id, task=self.task, usd=estimate_usd)
        self.reserved.append(estimate_usd)

    def heartbeat(self) -> None:
        self.heartbeats += 1


class SpyTranscriber:
    """Wraps a real ``Transcriber`` and records each call (to prove a model did not run)."""

    def __init__(self, inner: Transcriber) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.model = inner.model
        self.price_per_minute_usd = inner.price_per_minute_usd
        self.max_upload_bytes = inner.max_upload_bytes
        self.calls: list[Path] = []

    def transcribe(self, audio: Path, *, language: str | None, word_timestamps: bool) -> Transcript:
        self.calls.append(audio)
        return self.inner.transcribe(audio, language=language, word_timestamps=word_timestamps)
