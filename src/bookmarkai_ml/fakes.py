"""In-memory fakes of every port in ``ports.py``: a public testing aid, like dramatiq's StubBroker.

Each ``Fake<Port>`` is a small, real implementation of ``ports.<Port>`` (deterministic, no I/O
beyond the paths it is handed) and records what it was asked, so a test can assert on it. A
service takes its ports through its constructor, so a user's own unit tests hand it fakes
instead of adapters::

    from bookmarkai_ml.contracts import SummarizeOptions
    from bookmarkai_ml.fakes import FakeEmbedder, FakeSummarizer

    embedder = FakeEmbedder(dimension=8)
    vectors = embedder.embed(["a bookmark", "a bookmark"])
    assert vectors.shape == (2, 8) and (vectors[0] == vectors[1]).all()

    summary = FakeSummarizer().summarize("First point. Second point.", SummarizeOptions())
    assert summary.summary == "First point."

Fakes serve unit tests only: integration tests run the real RabbitMQ, Postgres+pgvector,
ffmpeg and models (docs/architecture.md). ``tests/unit/test_fakes.py`` fails when a port in
``ports.py`` has no fake here, or when a fake's methods drift from its port's.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID, uuid4

import numpy as np

from bookmarkai_ml.contracts import Segment, SummarizeOptions, Word
from bookmarkai_ml.contracts.messages import TaskMessageT
from bookmarkai_ml.domain.text import STOPWORDS, estimate_tokens, split_sentences, words
from bookmarkai_ml.domain.verdict import Ending, LeaseLostError
from bookmarkai_ml.errors import (
    BrokerUnavailableError,
    BudgetExceededError,
    InvalidInputError,
    MediaError,
    PublishRejectedError,
)
from bookmarkai_ml.ports import (
    BudgetLedger,
    Downloaded,
    ExtractedAudio,
    FloatArray,
    Interval,
    JobView,
    OutgoingMessage,
    Probe,
    Summary,
    TaskOutcome,
    Transcriber,
    Transcript,
)


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

    def transcribe(
        self,
        audio: Path,
        *,
        language: str | None,
        word_timestamps: bool,
        vocabulary: Sequence[str] = (),
    ) -> Transcript:
        self.calls.append(audio)
        return self.inner.transcribe(
            audio, language=language, word_timestamps=word_timestamps, vocabulary=vocabulary
        )


class FakeTranscriber:
    """``ports.Transcriber`` that returns a scripted transcript for any audio file.

    Without ``segments`` the text becomes one segment per sentence, ``seconds_per_sentence``
    long each; ``word_timestamps=True`` spreads each segment's words evenly over it.
    Asked for no language, it "detects" ``language`` with ``language_probability``.
    ``asked`` records the language and vocabulary of every call.
    """

    provider = "fake"
    model = "scripted"

    def __init__(
        self,
        text: str = "A scripted transcript.",
        *,
        language: str | None = "en",
        language_probability: float = 0.99,
        segments: Sequence[Segment] | None = None,
        seconds_per_sentence: float = 2.0,
        price_per_minute_usd: Decimal = Decimal(0),
        max_upload_bytes: int | None = None,
    ) -> None:
        self.language = language
        self.language_probability = language_probability
        self.price_per_minute_usd = price_per_minute_usd
        self.max_upload_bytes = max_upload_bytes
        if segments is None:
            spans = enumerate(split_sentences(text))
            step = seconds_per_sentence
            segments = [Segment(start=i * step, end=(i + 1) * step, text=s) for i, s in spans]
        self.segments = list(segments)
        self.calls: list[Path] = []
        self.asked: list[tuple[str | None, tuple[str, ...]]] = []

    def transcribe(
        self,
        audio: Path,
        *,
        language: str | None,
        word_timestamps: bool,
        vocabulary: Sequence[str] = (),
    ) -> Transcript:
        self.calls.append(audio)
        self.asked.append((language, tuple(vocabulary)))
        segments = [_with_words(s) for s in self.segments] if word_timestamps else self.segments
        text = " ".join(s.text for s in segments)
        if language is not None:
            return Transcript(text=text, segments=list(segments), language=language)
        return Transcript(
            text=text,
            segments=list(segments),
            language=self.language,
            language_probability=self.language_probability,
        )


def _with_words(segment: Segment) -> Segment:
    """``segment`` with its words spread evenly over its span."""
    tokens = segment.text.split()
    step = (segment.end - segment.start) / max(len(tokens), 1)
    timed = [
        Word(start=segment.start + i * step, end=segment.start + (i + 1) * step, word=token)
        for i, token in enumerate(tokens)
    ]
    return segment.model_copy(update={"words": timed})


class FakeSummarizer:
    """``ports.Summarizer``: the first sentence, up to three key points and frequent-word tags.

    Like the extractive summarizer, ``method`` is "extractive" and ``too_short`` is set
    for two sentences or fewer.

    Tokens are counted as the real providers estimate them (``domain.text.estimate_tokens``);
    the cost is ``usd_per_token`` times the input tokens (nothing by default).
    """

    provider = "fake"
    model = "first-sentence"

    def __init__(self, *, usd_per_token: Decimal = Decimal(0), max_tags: int = 3) -> None:
        self.usd_per_token = usd_per_token
        self.max_tags = max_tags
        self.calls: list[str] = []

    def summarize(self, text: str, options: SummarizeOptions) -> Summary:
        self.calls.append(text)
        sentences = split_sentences(text)
        summary = sentences[0] if sentences else ""
        return Summary(
            summary=summary,
            key_points=sentences[:3],
            tags=self._tags(text),
            input_tokens=estimate_tokens(text),
            output_tokens=estimate_tokens(summary),
            method="extractive",
            too_short=len(sentences) <= 2,
        )

    def estimate_cost_usd(self, text: str, options: SummarizeOptions) -> Decimal:
        return self.usd_per_token * estimate_tokens(text)

    def _tags(self, text: str) -> list[str]:
        counts: dict[str, int] = {}
        for word in words(text.lower()):
            if len(word) > 3 and word not in STOPWORDS:
                counts[word] = counts.get(word, 0) + 1
        return sorted(counts, key=lambda w: (-counts[w], w))[: self.max_tags]


class FakeEmbedder:
    """``ports.Embedder``: deterministic hashed bag-of-words vectors, L2-normalised.

    Each lower-cased word adds +-1 to one coordinate chosen by its BLAKE2 hash, so equal
    texts get equal vectors and texts sharing words are close in cosine similarity; a text
    without words maps to the first basis vector.
    """

    provider = "fake"

    def __init__(self, *, dimension: int = 384) -> None:
        self.dimension = dimension
        self.model = f"hashed-bow-{dimension}"
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> FloatArray:
        self.calls.append(list(texts))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                index = int.from_bytes(digest[:7], "big") % self.dimension
                vectors[row, index] += 1.0 if digest[7] & 1 else -1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors[norms[:, 0] == 0, 0] = 1.0
        normed: FloatArray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return normed

    def count_tokens(self, text: str) -> int:
        """One token per whitespace-separated word: easy to predict in a test."""
        return len(text.split())


class FakeMediaStore:
    """``ports.MediaStore`` in memory: object bytes by key, URIs ``fake://<key>``."""

    SCHEME = "fake://"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, path: Path) -> str:
        self.objects[key] = path.read_bytes()
        return self.SCHEME + key

    def fetch(self, uri: str, dest: Path) -> Path:
        """Raises: InvalidInputError ``not_found`` for an unknown URI, as the adapters do."""
        key = uri.removeprefix(self.SCHEME)
        if not uri.startswith(self.SCHEME) or key not in self.objects:
            raise InvalidInputError(f"no such media: {uri}", code="not_found")
        dest.write_bytes(self.objects[key])
        return dest

    def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self.objects if k.startswith(prefix)]
        for key in doomed:
            del self.objects[key]
        return len(doomed)

    def delete(self, uri: str) -> bool:
        return self.objects.pop(uri.removeprefix(self.SCHEME), None) is not None


class FakeJobRepository:
    """``ports.JobRepository`` in memory, with the same guards as the Postgres one.

    Jobs are :class:`JobView` values keyed by id; ``outbox`` records each (re)queue as
    ``(job_id, delay_s)``, and ``results`` the outcome of each finished job.
    """

    def __init__(self) -> None:
        self.jobs: dict[UUID, JobView] = {}
        self.owners: dict[UUID, str] = {}
        self.expired: set[UUID] = set()  # leases a test declares expired
        self.outbox: list[tuple[UUID, float]] = []
        self.results: dict[UUID, TaskOutcome] = {}
        self._lock = threading.Lock()

    def add(self, message: TaskMessageT, *, status: str = "queued") -> UUID:
        """A job for ``message`` (as ``submit`` would make it); returns its id."""
        job_id = message.job_id or uuid4()
        now = datetime.now(UTC)
        self.jobs[job_id] = JobView(
            id=job_id, tenant_id=message.tenant_id, share_id=message.share_id,
            task=str(message.task), status=status, attempts=0, then=[], parent_id=None,
            error_code=None, error_message=None, retry_after=None, created_at=now,
            updated_at=now, started_at=None, finished_at=None,
        )  # fmt: skip
        return job_id

    def _set(self, job_id: UUID, **changes: object) -> None:
        self.jobs[job_id] = replace(self.jobs[job_id], **changes)  # type: ignore[arg-type]

    def claim(
        self, message: TaskMessageT, *, owner: str, traceparent: str | None = None
    ) -> tuple[UUID, int | None]:
        with self._lock:
            job_id = message.job_id if message.job_id in self.jobs else None
            job_id = job_id or self.add(message)
            job = self.jobs[job_id]
            leased_elsewhere = (
                job.status == "running" and self.owners.get(job_id) != owner
                and job_id not in self.expired
            )  # fmt: skip
            if job.status not in ("queued", "running") or leased_elsewhere:
                return job_id, None
            self.expired.discard(job_id)
            self.owners[job_id] = owner
            self._set(job_id, status="running", attempts=job.attempts + 1)
            return job_id, job.attempts + 1

    def heartbeat(self, job_id: UUID, *, owner: str) -> None:
        with self._lock:
            if self.jobs[job_id].status != "running" or self.owners.get(job_id) != owner:
                raise LeaseLostError(f"job {job_id}: lease lost")

    def end(self, job_id: UUID, ending: Ending, *, owner: str) -> None:
        with self._lock:
            job = self.jobs[job_id]
            if job.status in ("done", "cancelled") or self.owners.get(job_id, owner) != owner:
                return
            self.owners.pop(job_id, None)
            self._set(
                job_id, status=ending.status, error_code=ending.code,
                error_message=ending.message, retry_after=ending.retry_after,
            )  # fmt: skip
            if ending.requeue_after_s is not None:
                self.outbox.append((job_id, ending.requeue_after_s))

    def fail(self, job_id: UUID, *, code: str, message: str) -> None:
        with self._lock:
            if job_id in self.jobs and self.jobs[job_id].status in ("queued", "running"):
                self.owners.pop(job_id, None)
                self._set(job_id, status="failed", error_code=code, error_message=message)

    def finish(self, job_id: UUID, *, owner: str, outcome: TaskOutcome, duration_ms: int) -> bool:
        with self._lock:
            if self.jobs[job_id].status != "running" or self.owners.get(job_id) != owner:
                return False
            self.owners.pop(job_id)
            self.results[job_id] = outcome
            result = outcome.result.model_dump(mode="json")
            self._set(job_id, status="done", error_code=None, error_message=None, result=result)
            return True

    def sweep_expired_leases(self, *, max_attempts: int) -> tuple[int, int]:
        requeued = failed = 0
        for job_id in sorted(self.expired, key=str):
            if self.jobs[job_id].status != "running":
                continue
            if self.jobs[job_id].attempts < max_attempts:
                self._set(job_id, status="queued")
                self.outbox.append((job_id, 0.0))
                requeued += 1
            else:
                self.fail(job_id, code="attempts_exhausted", message="worker killed each time")
                failed += 1
            self.owners.pop(job_id, None)
        self.expired.clear()
        return requeued, failed

    def tree(self, roots: Sequence[UUID]) -> list[JobView]:
        return [self.jobs[r] for r in roots if r in self.jobs]

    def unfinished(self, roots: Sequence[UUID]) -> int:
        return sum(job.status in ("queued", "running") for job in self.tree(roots))

    def revive_orphans(self, roots: Sequence[UUID]) -> int:
        return 0  # the fake's queue is its outbox list; nothing is ever orphaned


class FakeMediaFetcher:
    """``ports.MediaFetcher`` that writes ``content`` for any source; records the sources."""

    def __init__(self, content: bytes = b"fake media") -> None:
        self.content = content
        self.fetched: list[str] = []

    def fetch(self, source: str, dest_dir: Path) -> Downloaded:
        dest_dir.mkdir(parents=True, exist_ok=True)
        path = dest_dir / "media"
        path.write_bytes(self.content)
        self.fetched.append(source)
        return Downloaded(path, len(self.content), source)


class FakeAudioProcessor:
    """``ports.AudioProcessor`` that reports ``duration_s`` and ``silences`` for any file.

    Over ``max_duration_s`` the duration check fails as the real one does (``too_long``);
    the "audio" it writes is an empty file, so pair it with a fake ``Transcriber``.
    """

    def __init__(
        self,
        *,
        duration_s: float = 30.0,
        silences: Sequence[Interval] = (),
        max_duration_s: float = 1800.0,
    ) -> None:
        self.duration_s = duration_s
        self.silences = list(silences)
        self.max_duration_s = max_duration_s
        self.chunks: list[Interval] = []

    def probe(self, path: Path) -> Probe:
        return Probe(self.duration_s, "wav", "pcm_s16le", has_video=False)

    def check_duration(self, probe: Probe) -> None:
        if probe.duration_s > self.max_duration_s:
            raise MediaError("media is over the duration limit", code="too_long")

    def extract(
        self, src: Path, dest: Path, probe: Probe, *, max_s: float | None = None
    ) -> ExtractedAudio:
        dest.touch()
        duration = min(probe.duration_s, max_s) if max_s is not None else probe.duration_s
        return ExtractedAudio(dest, duration, self.silences)

    def write_chunk(self, wav: Path, span: Interval, dest: Path) -> Path:
        dest.touch()
        self.chunks.append(span)
        return dest
