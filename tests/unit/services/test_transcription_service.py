"""TranscriptionService wiring: provider choice and settings-built defaults (no media I/O)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bookmarkai_ml.config import BudgetSettings, MediaSettings, Settings
from bookmarkai_ml.domain.pricing import price_table
from bookmarkai_ml.errors import InvalidInputError
from bookmarkai_ml.media.audio import AudioProcessor
from bookmarkai_ml.media.download import Downloader
from bookmarkai_ml.providers.openai_http import OpenAIHTTP
from bookmarkai_ml.providers.whisper_openai import OpenAIWhisperTranscriber
from bookmarkai_ml.services.transcription import TranscriptionService, build_service


def test_an_unconfigured_provider_is_invalid_input() -> None:
    media = MediaSettings()
    with Downloader(media) as downloader:
        service = TranscriptionService(
            media=media,
            downloader=downloader,
            processor=AudioProcessor(media),
            transcribers={},
        )
        with pytest.raises(InvalidInputError, match="openai"):
            service.transcriber("openai")


def test_providers_are_built_once_and_priced_from_the_table(tmp_path: Path) -> None:
    settings = Settings(environment="test", data_dir=tmp_path)
    service = build_service(settings)
    api = service.transcriber("openai")
    assert service.transcriber("openai") is api
    assert isinstance(api, OpenAIWhisperTranscriber)
    assert api.model == "whisper-1"
    assert str(api.price_per_minute_usd) == "0.006"
    assert api.max_upload_bytes == 25 * 1024 * 1024
    local = service.transcriber(None)
    assert (local.provider, local.model, local.price_per_minute_usd) == ("local", "tiny.en", 0)


def test_the_whisper_price_is_configurable() -> None:
    http = OpenAIHTTP(base_url="http://127.0.0.1:9/v1", api_key=None)
    table = price_table(BudgetSettings(whisper_usd_per_minute=Decimal("0.01")))
    assert OpenAIWhisperTranscriber(http, prices=table).price_per_minute_usd == Decimal("0.01")
    http.close()
