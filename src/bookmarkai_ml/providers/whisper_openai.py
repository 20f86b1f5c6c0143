"""OpenAI ``whisper-1`` (or any OpenAI-compatible transcription endpoint) over HTTP.

One chunk per request, uploaded as 16 kHz mono WAV (32 kB/s, so a 10-minute chunk
is ~19 MB, under the 25 MB request limit; ``max_upload_bytes`` makes the service
cut smaller chunks if the limit is lower). Asks for ``verbose_json`` to get segment
timestamps, ``timestamp_granularities[]=word`` when words are wanted, and the job's
vocabulary as ``prompt``. Retries
and Retry-After are the shared client's (``openai_http.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from bookmarkai_ml.config import ModelSettings
from bookmarkai_ml.contracts import Segment, Word
from bookmarkai_ml.domain.pricing import DEFAULT_TABLE, PriceTable
from bookmarkai_ml.domain.vocabulary import decoder_hint
from bookmarkai_ml.errors import ProviderUnavailableError
from bookmarkai_ml.ports import Transcript
from bookmarkai_ml.providers.openai_http import OpenAIHTTP

#: OpenAI's documented per-request upload limit for audio transcriptions.
OPENAI_MAX_UPLOAD_BYTES = 25 * 1024 * 1024

#: verbose_json reports a language name; contracts carry ISO 639-1 codes where known.
_LANGUAGE_CODES = {"english": "en", "german": "de", "french": "fr", "spanish": "es"}


class OpenAIWhisperTranscriber:
    """The ``Transcriber`` port over ``POST /audio/transcriptions``."""

    provider = "openai"

    def __init__(
        self,
        http: OpenAIHTTP,
        *,
        model: str = "whisper-1",
        prices: PriceTable = DEFAULT_TABLE,
        max_upload_bytes: int = OPENAI_MAX_UPLOAD_BYTES,
    ) -> None:
        self._http = http
        self.model = model
        self.max_upload_bytes: int | None = max_upload_bytes
        self.price_per_minute_usd: Decimal = prices.price(self.provider, model).per_audio_minute

    @classmethod
    def from_settings(
        cls, models: ModelSettings, prices: PriceTable = DEFAULT_TABLE
    ) -> OpenAIWhisperTranscriber:
        return cls(
            OpenAIHTTP.from_settings(models), model=models.openai_transcription_model, prices=prices
        )

    def transcribe(
        self,
        audio: Path,
        *,
        language: str | None,
        word_timestamps: bool,
        vocabulary: Sequence[str] = (),
    ) -> Transcript:
        """Upload one WAV chunk; segment times are relative to its start.

        ``vocabulary`` goes as the ``prompt`` form field, framed as a glossary like the
        local path's hotwords (``domain/vocabulary.py``): the API's documented way to
        spell names and jargon. The API reports no language probability.

        Raises:
            ProviderRejectedError: the API refused the request (4xx).
            ProviderUnavailableError: retries exhausted, or an unusable answer.
        """
        data = {"model": self.model, "response_format": "verbose_json"}
        if language:
            data["language"] = language
        if word_timestamps:
            data["timestamp_granularities[]"] = "word"
        if vocabulary:
            data["prompt"] = decoder_hint(vocabulary) or ""
        body = self._http.post_multipart(
            "/audio/transcriptions", data=data, files={"file": (audio.name, audio, "audio/wav")}
        )
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ProviderUnavailableError("transcription answer has no text")
        words = _words(body.get("words")) if word_timestamps else None
        segments = [_segment(s, words) for s in body.get("segments") or []]
        lang = body.get("language")
        lang = _LANGUAGE_CODES.get(str(lang).lower(), lang) if lang else None
        return Transcript(text=body["text"].strip(), segments=segments, language=lang)


def _words(raw: Any) -> list[Word]:
    if not isinstance(raw, list):
        return []
    return [Word(start=float(w["start"]), end=float(w["end"]), word=str(w["word"])) for w in raw]


def _segment(raw: dict[str, Any], words: list[Word] | None) -> Segment:
    start = max(0.0, float(raw.get("start", 0.0)))
    end = max(start, float(raw.get("end", start)))
    mine = [w for w in words if start <= w.start < end] if words is not None else None
    return Segment(start=start, end=end, text=str(raw.get("text", "")).strip(), words=mine)
