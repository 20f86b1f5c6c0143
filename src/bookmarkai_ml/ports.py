"""Ports: the small interfaces services depend on. Adapters implement them.

Services import only this module (and contracts/domain); entry points build the
adapters and hand them in. In-package fakes for unit tests live in ``fakes.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from uuid import UUID

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from bookmarkai_ml.contracts import Segment, SummarizeOptions
from bookmarkai_ml.contracts.results import SummaryMethod

if TYPE_CHECKING:
    from bookmarkai_ml.contracts.messages import TaskMessageT
    from bookmarkai_ml.domain.chunking import Chunk
    from bookmarkai_ml.domain.verdict import Ending


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
    #: False only for completion events: nobody need be bound to ``ml.events``.
    mandatory: bool = True


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

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; return how many (erasure)."""
        ...

    def delete(self, uri: str) -> bool:
        """Delete the object at ``uri`` if it is in this store; whether one was deleted."""
        ...


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A media file on local disk and where it came from."""

    path: Path
    size: int
    source: str
    content_type: str | None = None


class MediaFetcher(Protocol):
    """Brings a media source (http(s) URL, ``s3://`` object, allowed local path) to disk.

    Raises:
        UnsafeURLError: the source is not allowed (docs/transcription.md, SSRF guard).
        MediaError | InvalidInputError | RetryableError: the download failed.
    """

    def fetch(self, source: str, dest_dir: Path) -> Downloaded: ...


@dataclass(frozen=True, slots=True)
class Interval:
    """A span of the audio, in seconds from its start."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Probe:
    """What ffprobe says about a media file."""

    duration_s: float
    format_name: str
    audio_codec: str
    has_video: bool


@dataclass(frozen=True, slots=True)
class ExtractedAudio:
    """16 kHz mono WAV ready for Whisper, with its exact duration and silences."""

    path: Path
    duration_s: float
    silences: list[Interval]
    loudness_lufs: float | None = None
    gain_db: float = 0.0


class AudioProcessor(Protocol):
    """Validates media and turns it into transcriber-ready audio (ffprobe/ffmpeg)."""

    def probe(self, path: Path) -> Probe:
        """Raises: MediaError (``corrupt_media``, ``no_audio_stream``, ``empty_media``)."""
        ...

    def check_duration(self, probe: Probe) -> None:
        """Raises: MediaError ``too_long`` over the configured limit."""
        ...

    def extract(
        self, src: Path, dest: Path, probe: Probe, *, max_s: float | None = None
    ) -> ExtractedAudio:
        """Decode at most ``max_s`` seconds to normalised 16 kHz mono WAV at ``dest``."""
        ...

    def write_chunk(self, wav: Path, span: Interval, dest: Path) -> Path:
        """Copy ``span`` of the WAV ``wav`` into a WAV file at ``dest``; return ``dest``."""
        ...


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a transcriber returns for one audio file (times relative to the file)."""

    text: str
    segments: list[Segment]
    language: str | None
    #: The detection score of ``language``; None when it was not detected (set by the
    #: job, or an English-only model).
    language_probability: float | None = None


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text for one local 16 kHz mono audio file.

    ``language`` None asks the transcriber to detect it; ``vocabulary`` lists names and
    jargon the speech contains, as a hint to the decoder (docs/transcription.md).
    """

    provider: str
    model: str
    price_per_minute_usd: Decimal
    max_upload_bytes: int | None

    def transcribe(
        self,
        audio: Path,
        *,
        language: str | None,
        word_timestamps: bool,
        vocabulary: Sequence[str] = (),
    ) -> Transcript: ...


@dataclass(frozen=True, slots=True)
class Summary:
    """A summary plus the token usage that priced it."""

    summary: str
    key_points: list[str]
    tags: list[str]
    input_tokens: int = 0
    output_tokens: int = 0
    method: SummaryMethod = "extractive"
    too_short: bool = False


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
class VectorSet:
    """An embed job's vectors: the job's finish swaps them for the share's stored ones."""

    tenant_id: str
    share_id: str
    model: str
    vectors: FloatArray
    chunks: Sequence[Chunk]
    content_kind: str = "text"
    source_kind: str | None = None


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """What a task handler hands back to the job runtime.

    ``vectors`` are written by ``JobRepository.finish`` in the transaction that marks
    the job done, so a share's vectors change exactly when an embed job finishes.
    """

    result: BaseModel
    cost: CostLine
    follow_up_text: str | None = None
    follow_up_segments: list[Segment] = field(default_factory=list)
    vectors: VectorSet | None = None


class BudgetLedger(Protocol):
    """Atomic budget reservations (docs/operations.md, "Budgets and costs").

    Settling is done by ``JobRepository.finish`` in the transaction that writes the
    cost row, so spend is never counted twice nor missed.
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


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as the job repository reads it; ``result`` once it is done."""

    id: UUID
    tenant_id: str
    share_id: str
    task: str
    status: str
    attempts: int
    then: list[str]
    parent_id: UUID | None
    error_code: str | None
    error_message: str | None
    retry_after: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Submission:
    """The job a submission maps to; ``created`` is False for a duplicate."""

    job: JobView
    created: bool


class JobRepository(Protocol):
    """Every state transition of a job that runs in a transaction of its own.

    The worker runtime, the relay's lease sweeper and the local path use it; Postgres
    implements it in ``db/jobs/`` (which also holds the transitions that join a
    caller's transaction). Every method may raise ``DatabaseUnavailableError``.
    """

    def claim(
        self, message: TaskMessageT, *, owner: str, traceparent: str | None = None
    ) -> tuple[UUID | None, int | None]:
        """Find or adopt the message's job and lease it: (job id, attempt number), or
        (job id, None) when it is done, cancelled or leased by a live worker, or erased;
        (None, None) for a row-less message of an erased share (no job is adopted)."""
        ...

    def heartbeat(self, job_id: UUID, *, owner: str) -> None:
        """Extend the lease.

        Raises:
            LeaseLostError: the lease was taken over, or the job was cancelled.
        """
        ...

    def end(self, job_id: UUID, ending: Ending, *, owner: str) -> None:
        """End ``owner``'s run as ``ending`` says (a retry is queued with it)."""
        ...

    def fail(self, job_id: UUID, *, code: str, message: str) -> None:
        """Fail a queued or running job outside a run; a finished job is left alone."""
        ...

    def finish(self, job_id: UUID, *, owner: str, outcome: TaskOutcome, duration_ms: int) -> bool:
        """Commit result, cost, settled budget, ``done`` and follow-up jobs at once;
        False if the lease was lost or the job was cancelled."""
        ...

    def sweep_expired_leases(self, *, max_attempts: int) -> tuple[int, int]:
        """Requeue jobs whose worker stopped renewing the lease, or fail those that
        used ``max_attempts`` runs: (requeued, failed)."""
        ...

    def tree(self, roots: Sequence[UUID]) -> list[JobView]:
        """Every job of the chains started by ``roots``, roots first."""
        ...

    def unfinished(self, roots: Sequence[UUID]) -> int:
        """How many jobs of those chains are not terminal yet."""
        ...

    def revive_orphans(self, roots: Sequence[UUID]) -> int:
        """Queue again the queued jobs of those chains that have nothing left to publish."""
        ...
