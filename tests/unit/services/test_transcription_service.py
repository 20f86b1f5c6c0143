"""TranscriptionService: provider choice, the composition root's wiring, and the step order.

No media I/O: the service runs on the in-package fakes of its ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import BudgetSettings, MediaSettings, Settings
from bookmarkai_ml.contracts import Segment, TranscribeTask, TranscriptResult
from bookmarkai_ml.domain.pricing import price_table
from bookmarkai_ml.errors import InvalidInputError, MediaError
from bookmarkai_ml.fakes import FakeAudioProcessor, FakeJobContext, FakeMediaFetcher
from bookmarkai_ml.ports import Interval, Transcriber, Transcript
from bookmarkai_ml.providers.openai_http import OpenAIHTTP
from bookmarkai_ml.providers.whisper_openai import OpenAIWhisperTranscriber
from bookmarkai_ml.services.transcription import TranscriptionService


class _Words:
    """A ``Transcriber`` that hears "words" in every chunk; priced like whisper-1."""

    provider = "openai"
    model = "whisper-1"
    price_per_minute_usd = Decimal("0.006")
    max_upload_bytes: int | None = None

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(
        self,
        audio: Path,
        *,
        language: str | None,
        word_timestamps: bool,
        vocabulary: Sequence[str] = (),
    ) -> Transcript:
        self.calls += 1
        segment = Segment(start=0.0, end=1.0, text=f"words {self.calls}")
        return Transcript(text=segment.text, segments=[segment], language="en")


def _service(processor: FakeAudioProcessor, words: Transcriber) -> TranscriptionService:
    return TranscriptionService(
        media=MediaSettings(chunk_max_s=60),
        downloader=FakeMediaFetcher(),
        processor=processor,
        transcribers={"openai": lambda: words},
        default_provider="openai",
    )


def test_an_unconfigured_provider_is_invalid_input() -> None:
    service = TranscriptionService(
        media=MediaSettings(),
        downloader=FakeMediaFetcher(),
        processor=FakeAudioProcessor(),
        transcribers={},
    )
    with pytest.raises(InvalidInputError, match="openai"):
        service.transcriber("openai")


def test_long_audio_is_reserved_then_transcribed_in_chunks_cut_at_silences() -> None:
    processor = FakeAudioProcessor(duration_s=150.0, silences=[Interval(55.0, 57.0)])
    words = _Words()
    ctx = FakeJobContext()
    outcome = _service(processor, words)(TranscribeTask(share_id="s", media_url="https://x/a"), ctx)
    result = outcome.result
    assert isinstance(result, TranscriptResult)
    assert result.chunks == len(processor.chunks) == words.calls == 3
    assert processor.chunks[0].end == pytest.approx(56.0)  # the middle of the silence
    assert len(ctx.reserved) == 1
    assert ctx.reserved[0] >= outcome.cost.usd > 0
    assert ctx.heartbeats >= 3


def test_media_over_the_limit_fails_before_any_spend() -> None:
    processor = FakeAudioProcessor(duration_s=4000.0)
    ctx = FakeJobContext()
    with pytest.raises(MediaError, match="duration"):
        _service(processor, _Words())(TranscribeTask(share_id="s", media_url="https://x/a"), ctx)
    assert ctx.reserved == []


def test_providers_are_built_once_and_priced_from_the_table(tmp_path: Path) -> None:
    settings = Settings(environment="test", data_dir=tmp_path)
    service = bootstrap.transcription_handler(settings)
    api = service.transcriber("openai")
    assert service.transcriber("openai") is api
    assert isinstance(api, OpenAIWhisperTranscriber)
    assert api.model == "whisper-1"
    assert str(api.price_per_minute_usd) == "0.006"
    assert api.max_upload_bytes == 25 * 1024 * 1024
    local = service.transcriber(None)
    assert (local.provider, local.model, local.price_per_minute_usd) == ("local", "base", 0)


def test_the_whisper_price_is_configurable() -> None:
    http = OpenAIHTTP(base_url="http://127.0.0.1:9/v1", api_key=None)
    table = price_table(BudgetSettings(whisper_usd_per_minute=Decimal("0.01")))
    assert OpenAIWhisperTranscriber(http, prices=table).price_per_minute_usd == Decimal("0.01")
    http.close()
