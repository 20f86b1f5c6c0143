"""One transcript, one language: detected on the first chunk with speech, kept for the rest."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from bookmarkai_ml.config import MediaSettings
from bookmarkai_ml.contracts import Segment, TranscribeOptions, TranscribeTask, TranscriptResult
from bookmarkai_ml.fakes import (
    FakeAudioProcessor,
    FakeJobContext,
    FakeMediaFetcher,
    FakeTranscriber,
)
from bookmarkai_ml.ports import Interval, Transcriber, Transcript
from bookmarkai_ml.services.transcription import TranscriptionService


class _QuietFirst:
    """Hears nothing in the first chunk (guessing "en"), then German; records what it was asked."""

    provider = "local"
    model = "base"
    price_per_minute_usd = Decimal(0)
    max_upload_bytes: int | None = None

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def transcribe(
        self,
        audio: Path,
        *,
        language: str | None,
        word_timestamps: bool,
        vocabulary: Sequence[str] = (),
    ) -> Transcript:
        self.asked.append(language)
        if len(self.asked) == 1:
            return Transcript(text="", segments=[], language="en", language_probability=0.31)
        if language is not None:
            return Transcript("Guten Tag.", [Segment(start=0, end=1, text="Guten Tag.")], language)
        return Transcript("Guten Tag.", [Segment(start=0, end=1, text="Guten Tag.")], "de", 0.97)


def _run(transcriber: Transcriber, **options: object) -> TranscriptResult:
    service = TranscriptionService(
        media=MediaSettings(chunk_max_s=60),
        downloader=FakeMediaFetcher(),
        processor=FakeAudioProcessor(duration_s=150.0, silences=[Interval(55.0, 57.0)]),
        transcribers={"local": lambda: transcriber},
    )
    message = TranscribeTask(
        share_id="s",
        media_url="https://x/a",
        options=TranscribeOptions(**options),
    )
    result = service(message, FakeJobContext()).result
    assert isinstance(result, TranscriptResult)
    return result


def test_the_language_detected_on_the_first_chunk_is_passed_to_the_later_ones() -> None:
    fake = FakeTranscriber("Bonjour à tous.", language="fr", language_probability=0.93)
    result = _run(fake, vocabulary=["pgvector", "Celery"])
    assert result.chunks == 3
    assert [language for language, _ in fake.asked] == [None, "fr", "fr"]
    assert {vocabulary for _, vocabulary in fake.asked} == {("pgvector", "Celery")}
    assert (result.language, result.language_probability) == ("fr", 0.93)


def test_a_chunk_without_speech_does_not_decide_the_language() -> None:
    quiet = _QuietFirst()
    result = _run(quiet)
    assert quiet.asked == [None, None, "de"]
    assert (result.language, result.language_probability) == ("de", 0.97)


def test_a_language_the_job_sets_is_used_throughout_and_not_scored() -> None:
    fake = FakeTranscriber("Hallo.", language="en")
    result = _run(fake, language="de")
    assert [language for language, _ in fake.asked] == ["de", "de", "de"]
    assert (result.language, result.language_probability) == ("de", None)
