"""Local speech-to-text with faster-whisper (CTranslate2), the default transcriber.

The model is a pinned bundled one (``providers/pins.py``): Whisper base multilingual
(``models.whisper_model="base"``, the default) or tiny.en (``"tiny.en"``, English only,
about twice as fast), materialized by ``artifacts.materialize`` so that every file is
checked against its sha256 *before* faster-whisper opens it; or the user's own
CTranslate2 directory (``models.whisper_model_path``, not pinned). It is loaded from
disk only (``local_files_only``), once per process and shared (``load_model`` caches).

Language: a job that sets none gets it detected (with its probability); English-only
models always run as "en". Vocabulary (names, jargon) goes to the decoder framed as a
glossary (``domain/vocabulary.py``) as ``hotwords``, which faster-whisper puts before
every 30 s window; ``initial_prompt``
would reach only the first window once ``condition_on_previous_text`` is off, and
measured worse (docs/transcription.md, "Vocabulary").
Hallucination guards (docs/transcription.md, "Transcribers"): Silero VAD (bundled with
faster-whisper) and ``condition_on_previous_text=False`` so one bad segment cannot
seed a loop; the service applies the repeated-phrase filter
(``domain/hallucination.py``) to the merged output of every transcriber.
Decoding (``decode``): one 30 s window after another by default; with VAD on and
``whisper_batch_size`` above 1, faster-whisper's ``BatchedInferencePipeline`` decodes that
many VAD-cut speech windows in one pass of the model instead: faster, but it measured
worse (docs/transcription.md, "Decoding"), so it is opt-in.
faster_whisper is imported here and nowhere else.
"""

from __future__ import annotations

import threading
import wave
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bookmarkai_ml.config import ModelSettings
from bookmarkai_ml.contracts import Segment, Word
from bookmarkai_ml.domain.hallucination import join_text
from bookmarkai_ml.domain.vocabulary import GLOSSARY, decoder_hint
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import FloatArray, Transcript
from bookmarkai_ml.providers import pins
from bookmarkai_ml.providers.artifacts import Artifact, materialize

_lock = threading.Lock()

#: The bundled models ``models.whisper_model`` names, each pinned file by file.
PINNED: dict[str, Artifact] = {"base": pins.WHISPER_BASE, "tiny.en": pins.WHISPER_TINY_EN}

VocabularyAs = Literal["hotwords", "initial_prompt"]


def model_dir(models: ModelSettings) -> tuple[Path, str]:
    """The model directory to load and the name results report for it.

    Raises:
        ArtifactMismatchError: a bundled file fails its sha256 (nothing is loaded).
        ConfigurationError: a package that ships the model is not installed.
    """
    if models.whisper_model_path is not None:
        return models.whisper_model_path, models.whisper_model_path.name
    artifact = PINNED[models.whisper_model]
    return materialize(artifact, models.artifacts_dir), models.whisper_model


@lru_cache(maxsize=2)
def load_model(path: str, compute_type: str, threads: int) -> Any:
    """Load a CTranslate2 Whisper model once per process (never downloads)."""
    from faster_whisper import WhisperModel

    if not (Path(path) / "model.bin").is_file():
        raise ConfigurationError(f"no CTranslate2 Whisper model at {path}")
    return WhisperModel(
        path, device="cpu", compute_type=compute_type, cpu_threads=threads, local_files_only=True
    )


def decode(
    whisper: Any,
    audio: FloatArray | str,
    models: ModelSettings,
    *,
    language: str | None,
    word_timestamps: bool = False,
    **hint: str | None,
) -> tuple[Any, Any]:
    """faster-whisper's ``(segments, info)`` for ``audio`` with the configured decoding.

    Batched when ``whisper_batch_size`` > 1 and VAD cuts the audio into windows (the
    pipeline needs those cuts). The benches call this too, so their "direct call" is the
    decoding the worker does.
    """
    from faster_whisper import BatchedInferencePipeline

    options: dict[str, Any] = {
        "language": language,
        "beam_size": models.whisper_beam_size,
        "vad_filter": models.whisper_vad,
        "condition_on_previous_text": False,
        "word_timestamps": word_timestamps,
        **hint,
    }
    if models.whisper_vad and models.whisper_batch_size > 1:
        pipeline = BatchedInferencePipeline(whisper)
        return pipeline.transcribe(  # type: ignore[no-any-return]
            audio, batch_size=models.whisper_batch_size, without_timestamps=False, **options
        )
    return whisper.transcribe(audio, **options)  # type: ignore[no-any-return]


def read_wav(path: Path) -> FloatArray:
    """A 16-bit PCM WAV as float32 samples in [-1, 1] (what faster-whisper takes)."""
    with wave.open(str(path), "rb") as w:
        frames = w.readframes(w.getnframes())
    return (np.frombuffer(frames, dtype=np.int16).astype(np.float32) / 32768.0).astype(np.float32)


class LocalWhisperTranscriber:
    """The ``Transcriber`` port over faster-whisper; costs nothing per minute."""

    provider = "local"
    price_per_minute_usd = Decimal(0)
    max_upload_bytes: int | None = None

    def __init__(
        self,
        models: ModelSettings,
        *,
        vocabulary_as: VocabularyAs = "hotwords",
        vocabulary_frame: str = GLOSSARY,
    ) -> None:
        """Verify (and if need be assemble) the model files; the model loads on first use.

        ``vocabulary_as`` and ``vocabulary_frame`` exist for ``bench/vocabulary.py``, which
        measures the alternatives.

        Raises:
            ArtifactMismatchError: a bundled file fails its sha256.
            ConfigurationError: a package that ships the model is not installed.
        """
        self.path, self.model = model_dir(models)
        self._vocabulary_as = vocabulary_as
        self._vocabulary_frame = vocabulary_frame
        self._models = models

    def warm_up(self) -> None:
        """Load the model now rather than on the first job."""
        self._whisper()

    def _whisper(self) -> Any:
        with _lock:
            models = self._models
            return load_model(str(self.path), models.whisper_compute_type, models.whisper_threads)

    def transcribe(
        self,
        audio: Path,
        *,
        language: str | None,
        word_timestamps: bool,
        vocabulary: Sequence[str] = (),
    ) -> Transcript:
        """Transcribe a 16 kHz mono WAV; segment times are relative to its start."""
        whisper = self._whisper()
        if not whisper.model.is_multilingual:
            language = "en"
        detect = language is None
        hint = decoder_hint(vocabulary, self._vocabulary_frame)
        raw, info = decode(
            whisper,
            read_wav(audio),
            self._models,
            language=language,
            word_timestamps=word_timestamps,
            **{self._vocabulary_as: hint},
        )
        segments = [_segment(s, word_timestamps) for s in raw]
        return Transcript(
            text=join_text(segments),
            segments=segments,
            language=info.language,
            language_probability=round(float(info.language_probability), 4) if detect else None,
        )


def _segment(raw: Any, with_words: bool) -> Segment:
    words = None
    if with_words and raw.words:
        words = [
            Word(start=w.start, end=max(w.start, w.end), word=w.word, probability=w.probability)
            for w in raw.words
        ]
    start = max(0.0, float(raw.start))
    return Segment(start=start, end=max(start, float(raw.end)), text=raw.text.strip(), words=words)
