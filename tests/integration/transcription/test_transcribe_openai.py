"""The whisper-1 path over real HTTP: multipart upload, size-limited chunks, costs, retries."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bookmarkai_ml.config import MediaSettings
from bookmarkai_ml.contracts import TranscribeOptions, TranscribeTask, TranscriptResult
from bookmarkai_ml.domain.pricing import audio_cost
from bookmarkai_ml.errors import ProviderRejectedError
from bookmarkai_ml.fakes import FakeJobContext
from bookmarkai_ml.media.audio import AudioProcessor
from bookmarkai_ml.media.download import Downloader
from bookmarkai_ml.providers.openai_http import OpenAIHTTP, RetryPolicy
from bookmarkai_ml.providers.whisper_openai import OpenAIWhisperTranscriber
from bookmarkai_ml.services.transcription import ESTIMATE_MARGIN_S, TranscriptionService
from support.openai_stub import OpenAIStub, StubResponse

pytestmark = pytest.mark.integration


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(transcript="spoken words {n}") as server:
        yield server


def service_for(stub: OpenAIStub, *, max_upload_bytes: int) -> TranscriptionService:
    media = MediaSettings(allow_local_paths=True)
    http = OpenAIHTTP(base_url=stub.base_url, api_key="sk-test", retry=RetryPolicy(initial_s=0.01))
    whisper = OpenAIWhisperTranscriber(http, max_upload_bytes=max_upload_bytes)
    return TranscriptionService(
        media=media,
        downloader=Downloader(media),
        processor=AudioProcessor(media),
        transcribers={"openai": lambda: whisper},
        default_provider="local",
    )


def run(
    service: TranscriptionService, audio: Path, **options: object
) -> tuple[TranscriptResult, FakeJobContext, Decimal]:
    message = TranscribeTask(
        share_id="s",
        media_url=str(audio),
        options=TranscribeOptions(provider="openai", **options),  # type: ignore[arg-type]
    )
    ctx = FakeJobContext()
    outcome = service(message, ctx)
    assert isinstance(outcome.result, TranscriptResult)
    return outcome.result, ctx, outcome.cost.usd


def test_upload_limit_splits_into_chunks_with_absolute_times(
    stub: OpenAIStub, speech_wav: Path
) -> None:
    limit = 8 * 32000 + 44  # 8 seconds of 16 kHz mono PCM per request
    result, ctx, usd = run(service_for(stub, max_upload_bytes=limit), speech_wav, language="en")
    assert result.chunks == len(stub.requests) >= 3
    assert all(r.body_bytes <= limit + 1024 for r in stub.requests)  # + multipart framing
    assert all(len(r.files["file"]) <= limit for r in stub.requests)
    assert {r.fields["model"] for r in stub.requests} == {"whisper-1"}
    assert {r.fields["response_format"] for r in stub.requests} == {"verbose_json"}
    assert stub.requests[0].fields["language"] == "en"
    assert stub.requests[0].headers["Authorization"] == "Bearer sk-test"
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    assert starts[0] == 0
    assert result.segments[-1].end == pytest.approx(result.duration_s, abs=0.05)
    assert ctx.heartbeats == result.chunks + 1
    assert result.language == "en"
    assert result.provider == "openai"
    # Priced at $0.006 per minute (the design default); the reservation covered the cost.
    assert usd == audio_cost("openai", "whisper-1", result.duration_s)
    assert usd > 0
    assert ctx.reserved[0] >= usd
    assert ctx.reserved[0] <= audio_cost(
        "openai", "whisper-1", result.duration_s + ESTIMATE_MARGIN_S
    )


def test_a_rate_limited_chunk_is_retried_after_the_servers_delay(
    stub: OpenAIStub, speech_wav: Path
) -> None:
    stub.script.append(StubResponse(429, {"error": {"message": "slow"}}, {"Retry-After": "0.1"}))
    result, _, _ = run(service_for(stub, max_upload_bytes=25 * 1024 * 1024), speech_wav)
    assert result.chunks == 1
    assert len(stub.requests) == 2
    assert result.text == "spoken words 2"


def test_word_timestamps_are_requested(stub: OpenAIStub, speech_wav: Path) -> None:
    run(service_for(stub, max_upload_bytes=25 * 1024 * 1024), speech_wav, word_timestamps=True)
    assert stub.requests[0].fields["timestamp_granularities[]"] == "word"


def test_a_rejected_request_is_permanent(stub: OpenAIStub, speech_wav: Path) -> None:
    stub.script.append(StubResponse(401, {"error": {"message": "Incorrect API key"}}))
    with pytest.raises(ProviderRejectedError, match="Incorrect API key"):
        run(service_for(stub, max_upload_bytes=25 * 1024 * 1024), speech_wav)
    assert len(stub.requests) == 1


def test_the_vocabulary_is_sent_as_the_prompt(stub: OpenAIStub, speech_wav: Path) -> None:
    service = service_for(stub, max_upload_bytes=25 * 1024 * 1024)
    result, _, _ = run(service, speech_wav, vocabulary=["pgvector", "Siobhan Okonkwo"])
    assert stub.requests[0].fields["prompt"] == "Glossary: pgvector, Siobhan Okonkwo."
    assert result.language_probability is None  # the API reports no detection score


def test_no_vocabulary_sends_no_prompt(stub: OpenAIStub, speech_wav: Path) -> None:
    run(service_for(stub, max_upload_bytes=25 * 1024 * 1024), speech_wav)
    assert "prompt" not in stub.requests[0].fields
