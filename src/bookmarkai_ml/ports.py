"""Ports: the small interfaces services depend on. Adapters implement them.

Services import only this module (and contracts/domain); entry points build the
adapters and hand them in. In-package fakes for unit tests live in ``fakes.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from bookmarkai_ml.contracts import Segment, SummarizeOptions


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One AMQP message, already encoded (Celery protocol v2, see docs/messages.md)."""

    routing_key: str
    body: bytes
    headers: Mapping[str, Any]
    message_id: str
    content_type: str = "application/json"
    content_encoding: str = "utf-8"
    exchange: str = ""


class Publisher(Protocol):
    """Publishes with confirms; returns only once the broker has confirmed.

    Raises:
        BrokerUnavailableError: connection down, confirm timeout, nack, breaker open.
        PublishRejectedError: the message is unroutable or too large.
    """

    async def publish(self, message: OutgoingMessage) -> None: ...


class MediaStore(Protocol):
    """Keeps downloaded media: a local directory or an S3-compatible bucket."""

    def put(self, key: str, path: Path) -> str:
        """Store ``path`` under ``key``; return a URI for it."""
        ...

    def fetch(self, uri: str, dest: Path) -> Path:
        """Copy the object at ``uri`` to ``dest``; return ``dest``."""
        ...


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a transcriber returns for one audio file (times relative to the file)."""

    text: str
    segments: list[Segment]
    language: str | None


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text for one local 16 kHz mono audio file."""

    provider: str
    model: str
    price_per_minute_usd: Decimal
    max_upload_bytes: int | None

    def transcribe(
        self, audio: Path, *, language: str | None, word_timestamps: bool
    ) -> Transcript: ...


@dataclass(frozen=True, slots=True)
class Summary:
    """A summary plus the token usage that priced it."""

    summary: str
    key_points: list[str]
    tags: list[str]
    input_tokens: int = 0
    output_tokens: int = 0


@runtime_checkable
class Summarizer(Protocol):
    provider: str
    model: str

    def summarize(self, text: str, options: SummarizeOptions) -> Summary: ...

    def estimate_cost_usd(self, text: str, options: SummarizeOptions) -> Decimal:
        """An upper estimate of the cost, reserved against the budget before running."""
        ...


FloatArray = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Texts to L2-normalised vectors of a fixed dimension."""

    provider: str
    model: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> FloatArray: ...

    def count_tokens(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class CostLine:
    """The actual cost of one job, written once to the cost ledger."""

    provider: str
    model: str
    usd: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """What a task handler hands back to the job runtime."""

    result: BaseModel
    cost: CostLine
    follow_up_text: str | None = None
    follow_up_segments: list[Segment] = field(default_factory=list)


class BudgetLedger(Protocol):
    """Atomic budget reservations (SPEC §1 costs & budgets).

    Settling is done by the job runtime in the transaction that writes the cost
    row, so spend is never counted twice nor missed.
    """

    def reserve(self, *, job_id: UUID, task: str, usd: Decimal) -> None:
        """Hold ``usd`` against every window of ``task``.

        Raises:
            BudgetExceededError: a window would overshoot; carries ``retry_after``.
            DatabaseUnavailableError: the ledger is unreachable (fail closed).
        """
        ...

    def release(self, *, job_id: UUID) -> None:
        """Drop the job's held reservation (the job failed before spending)."""
        ...


class JobContext(Protocol):
    """The job runtime's services to a running handler."""

    job_id: UUID

    def reserve(self, estimate_usd: Decimal) -> None:
        """Atomically reserve the estimated cost against every budget window.

        Raises:
            BudgetExceededError: a window would overshoot; carries ``retry_after``.
            DatabaseUnavailableError: the ledger is unreachable (fail closed).
        """
        ...

    def heartbeat(self) -> None:
        """Extend the job's lease; call between long steps."""
        ...
