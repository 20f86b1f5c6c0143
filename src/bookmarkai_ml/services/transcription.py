"""Transcription: media URL in, timed transcript out, never over budget (docs/transcription.md).

The order of the steps is the point; each one is cheaper than the next and can
stop the job before anything is spent:

1. fetch the media (SSRF-safe) and keep a copy in the media store;
2. probe it (corrupt, no audio, empty -> ``MediaError`` with its own code);
3. refuse media over the duration limit (``too_long``) - before any spend;
4. reserve ``duration x price`` against the budget (``BudgetExceededError``);
5. extract 16 kHz mono audio, loudness-normalised, with its silences;
6. finish near-silent audio as ``silent`` with cost 0, without running the model;
7. transcribe chunks of at most 10 minutes cut at silences, and merge them into
   absolute, monotonic times; filter Whisper loops. A job without a language gets it
   detected on the first chunk with speech, and the later chunks are decoded in it.

The lease is extended (``ctx.heartbeat()``) after the download, after storing the
media copy (which also tells a job erased meanwhile), after extraction and between
chunks: each of those steps can take minutes. One 10-minute chunk of
Whisper base takes about 50 s on 2 idle cores (12x real time), more on a busy machine;
the worker's side thread (``workers.context.KeepLeased``) keeps the lease meanwhile.

The job runtime writes the result and the cost row and settles the reservation;
this handler only returns them (``TaskOutcome``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from bookmarkai_ml.config import MediaSettings
from bookmarkai_ml.contracts import Segment, TranscribeTask, TranscriptResult
from bookmarkai_ml.domain import audio_chunks as chunks
from bookmarkai_ml.domain.hallucination import filter_segments, join_text
from bookmarkai_ml.domain.media_keys import source_key
from bookmarkai_ml.domain.pricing import DEFAULT_TABLE, PriceTable
from bookmarkai_ml.domain.verdict import LeaseLostError
from bookmarkai_ml.errors import InvalidInputError
from bookmarkai_ml.ports import (
    AudioProcessor,
    CostLine,
    Downloaded,
    ExtractedAudio,
    JobContext,
    MediaFetcher,
    MediaStore,
    TaskOutcome,
    Transcriber,
)

BYTES_PER_SECOND = 32000  # 16 kHz mono 16-bit, what chunks are uploaded as
#: The reservation covers the probed duration plus this much, because the decoded
#: duration (what is billed) can exceed the container's by a few frames of padding.
#: Decoding stops there too, so the settled cost never exceeds what was reserved.
ESTIMATE_MARGIN_S = 1.0

TranscriberFactory = Callable[[], Transcriber]


class TranscriptionService:
    """The ``transcribe`` task handler: ``service(message, ctx) -> TaskOutcome``.

    Every adapter comes in through the constructor (``bootstrap.transcription_handler``
    wires the real ones); ``transcribers`` maps a provider name to a factory, so a
    model loads only when a job first asks for that provider.
    """

    def __init__(
        self,
        *,
        media: MediaSettings,
        downloader: MediaFetcher,
        processor: AudioProcessor,
        transcribers: Mapping[str, TranscriberFactory],
        default_provider: str = "local",
        store: MediaStore | None = None,
        prices: PriceTable = DEFAULT_TABLE,
        workdir: Path | None = None,
    ) -> None:
        self._media = media
        self._downloader = downloader
        self._processor = processor
        self._factories = dict(transcribers)
        self._built: dict[str, Transcriber] = {}
        self._default = default_provider
        self._store = store
        self._prices = prices
        self._workdir = workdir

    def transcriber(self, provider: str | None) -> Transcriber:
        """The transcriber for ``provider`` (default from settings), built once.

        Raises:
            InvalidInputError: that provider is not configured.
        """
        name = provider or self._default
        if name not in self._built:
            factory = self._factories.get(name)
            if factory is None:
                raise InvalidInputError(f"transcription provider {name!r} is not configured")
            self._built[name] = factory()
        return self._built[name]

    def __call__(self, message: TranscribeTask, ctx: JobContext) -> TaskOutcome:
        """Run one transcription job (see the module docstring for the steps)."""
        transcriber = self.transcriber(message.options.provider)
        with tempfile.TemporaryDirectory(prefix="bookmarkai-tx-", dir=self._workdir) as tmp:
            work = Path(tmp)
            downloaded = self._downloader.fetch(message.media_url, work / "in")
            ctx.heartbeat()  # a download may take as long as a lease
            probe = self._processor.probe(downloaded.path)
            self._processor.check_duration(probe)
            self._keep(downloaded, message, ctx)
            billable_s = probe.duration_s + ESTIMATE_MARGIN_S
            ctx.reserve(
                self._prices.audio_cost(transcriber.provider, transcriber.model, billable_s)
            )
            audio = self._processor.extract(
                downloaded.path, work / "audio.wav", probe, max_s=billable_s
            )
            ctx.heartbeat()
            if chunks.is_silent(
                audio.duration_s, audio.silences, min_speech_s=self._media.min_speech_s
            ):
                return self._silent(audio.duration_s, transcriber)
            return self._transcribe(audio, transcriber, message, ctx, work)

    def _keep(self, downloaded: Downloaded, message: TranscribeTask, ctx: JobContext) -> None:
        """Store fetched media (not media that already came from the store)."""
        if self._store is None or message.media_url.startswith("s3://"):
            return
        key = source_key(message.tenant_id, message.share_id, str(ctx.job_id))
        uri = self._store.put(key, downloaded.path)
        # An erasure that committed before this put deleted the share's media already:
        # the lease check after it sees the job cancelled, and the copy goes too.
        try:
            ctx.heartbeat()
        except LeaseLostError:
            self._store.delete(uri)
            raise

    def _silent(self, duration: float, transcriber: Transcriber) -> TaskOutcome:
        result = TranscriptResult(
            text="",
            duration_s=duration,
            silent=True,
            chunks=0,
            model=transcriber.model,
            provider=transcriber.provider,
        )
        cost = CostLine(
            provider=transcriber.provider, model=transcriber.model, audio_seconds=duration
        )
        return TaskOutcome(result=result, cost=cost)

    def _transcribe(
        self,
        audio: ExtractedAudio,
        transcriber: Transcriber,
        message: TranscribeTask,
        ctx: JobContext,
        work: Path,
    ) -> TaskOutcome:
        max_s = chunks.max_chunk_seconds(
            self._media.chunk_max_s,
            max_upload_bytes=transcriber.max_upload_bytes,
            bytes_per_s=BYTES_PER_SECOND,
        )
        plan = chunks.plan_chunks(audio.duration_s, audio.silences, max_s=max_s)
        parts: list[tuple[chunks.Interval, list[Segment]]] = []
        options = message.options
        language, probability = options.language, None
        for index, span in enumerate(plan):
            if index:
                ctx.heartbeat()
            path = (
                audio.path
                if len(plan) == 1
                else self._processor.write_chunk(audio.path, span, work / f"chunk-{index:03d}.wav")
            )
            transcript = transcriber.transcribe(
                path,
                language=language,
                word_timestamps=options.word_timestamps,
                vocabulary=options.vocabulary,
            )
            if language is None and transcript.segments:
                # Detected on the first chunk with speech and kept for the rest, so one
                # transcript has one language (a quiet chunk's guess is not kept).
                language, probability = transcript.language, transcript.language_probability
            parts.append((span, transcript.segments))
        segments = filter_segments(chunks.merge_segments(parts))
        text = join_text(segments)
        usd = self._prices.audio_cost(transcriber.provider, transcriber.model, audio.duration_s)
        result = TranscriptResult(
            text=text,
            language=language,
            language_probability=probability,
            duration_s=audio.duration_s,
            segments=segments,
            chunks=len(plan),
            model=transcriber.model,
            provider=transcriber.provider,
        )
        cost = CostLine(
            provider=transcriber.provider,
            model=transcriber.model,
            usd=usd,
            audio_seconds=audio.duration_s,
        )
        return TaskOutcome(
            result=result, cost=cost, follow_up_text=text or None, follow_up_segments=segments
        )
