"""Whisper base for real: detected languages, the vocabulary hint, tiny.en one setting away.

Speech is espeak-ng's (real ffmpeg, the real pinned models); ``process`` runs as a user
runs it: the CLI, local files, no settings but a data directory (the embedded Postgres).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bookmarkai_ml.config import MediaSettings, ModelSettings
from bookmarkai_ml.contracts import TranscribeOptions, TranscribeTask, TranscriptResult
from bookmarkai_ml.db.embedded import stop_embedded
from bookmarkai_ml.fakes import FakeJobContext
from bookmarkai_ml.media.audio import AudioProcessor
from bookmarkai_ml.media.download import Downloader
from bookmarkai_ml.providers.whisper_local import LocalWhisperTranscriber
from bookmarkai_ml.services.transcription import TranscriptionService

pytestmark = pytest.mark.integration

FRENCH = (
    "Bonjour à tous. Aujourd'hui nous parlons de la cuisine française et des marchés de Paris. "
    "Les légumes frais arrivent chaque matin de la campagne. "
    "Le pain est cuit avant le lever du soleil."
)
GERMAN = (
    "Guten Morgen. Heute sprechen wir über das Wetter in Berlin und die neuen Fahrräder der "
    "Stadt. Die Züge fahren jeden Tag pünktlich um acht Uhr. "
    "Am Wochenende regnet es wahrscheinlich."
)
#: Whisper base hears "Cellory workers" here without the vocabulary (espeak-ng en-us).
CELERY = "Celery workers pick up the transcription tasks from RabbitMQ."


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)


def speak(media_dir: Path, name: str, voice: str, text: str) -> Path:
    out = media_dir / f"{name}.wav"
    if not out.exists():
        _run("espeak-ng", "-v", voice, "-s", "150", "-w", str(out), text)
    return out


def in_mp4(media_dir: Path, wav: Path) -> Path:
    out = wav.with_suffix(".mp4")
    _run(
        "ffmpeg", "-nostdin", "-y", "-f", "lavfi", "-i", "color=c=green:s=160x120:r=10",
        "-i", str(wav), "-shortest", "-c:v", "libx264", "-preset", "ultrafast",
        "-c:a", "aac", "-b:a", "64k", str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def base() -> LocalWhisperTranscriber:
    return LocalWhisperTranscriber(ModelSettings())


def transcribe(
    whisper: LocalWhisperTranscriber, audio: Path, **options: object
) -> TranscriptResult:
    """The whole task on ``audio`` (probe, ffmpeg to 16 kHz, chunks, merge)."""
    media = MediaSettings(allow_local_paths=True)
    with Downloader(media) as downloader:
        service = TranscriptionService(
            media=media,
            downloader=downloader,
            processor=AudioProcessor(media),
            transcribers={"local": lambda: whisper},
        )
        message = TranscribeTask(
            share_id="lang",
            media_url=str(audio),
            options=TranscribeOptions(**options),
        )
        result = service(message, FakeJobContext()).result
    assert isinstance(result, TranscriptResult)
    return result


def test_base_is_the_default_and_detects_english(
    base: LocalWhisperTranscriber, speech_wav: Path
) -> None:
    result = transcribe(base, speech_wav)
    assert result.model == "base"
    assert result.language == "en"
    assert result.language_probability is not None
    assert result.language_probability > 0.5
    assert "quick brown fox" in result.text.lower()
    told = transcribe(base, speech_wav, language="en")
    assert (told.language, told.language_probability) == ("en", None)  # set, not detected


def test_german_speech_is_detected_and_transcribed_in_german(
    base: LocalWhisperTranscriber, media_dir: Path
) -> None:
    result = transcribe(base, speak(media_dir, "de", "de", GERMAN))
    assert result.language == "de"
    assert result.language_probability is not None
    text = result.text.lower()
    assert "guten morgen" in text
    assert "berlin" in text
    assert "wochenende" in text


def test_the_vocabulary_reaches_the_decoder(base: LocalWhisperTranscriber, media_dir: Path) -> None:
    clip = speak(media_dir, "celery", "en-us", CELERY)
    without = transcribe(base, clip, language="en")
    hinted = transcribe(base, clip, language="en", vocabulary=["Celery", "RabbitMQ"])
    assert "celery" not in without.text.lower(), without.text  # the clip is a hard one
    assert "Celery workers" in hinted.text, hinted.text
    assert "RabbitMQ" in hinted.text


def test_tiny_en_is_one_setting_away_and_always_english(media_dir: Path) -> None:
    tiny = LocalWhisperTranscriber(ModelSettings(whisper_model="tiny.en"))
    result = transcribe(tiny, speak(media_dir, "de", "de", GERMAN))
    assert result.model == "tiny.en"
    assert (result.language, result.language_probability) == ("en", None)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_french_and_german_videos_go_through_process_in_their_language(
    media_dir: Path, tmp_path: Path
) -> None:
    videos = {
        "fr": in_mp4(media_dir, speak(media_dir, "fr", "fr", FRENCH)),
        "de": in_mp4(media_dir, speak(media_dir, "de", "de", GERMAN)),
    }
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKMARKAI_ML_")}
    env["BOOKMARKAI_ML_DATA_DIR"] = str(data)
    env["BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR"] = os.environ["BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR"]
    cli = Path(sys.executable).parent / "bookmarkai-ml"
    try:
        proc = subprocess.run(
            [str(cli), "process", str(videos["fr"]), str(videos["de"]), "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=840,
        )
    finally:
        stop_embedded(data)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    reports = {r["input"]: r for r in json.loads(proc.stdout)}
    french, german = reports["fr.mp4"], reports["de.mp4"]
    assert french["language"] == "fr", french
    assert german["language"] == "de", german
    assert "bonjour" in french["transcript"].lower()
    assert "guten morgen" in german["transcript"].lower()
    for report in (french, german):
        assert all(job["status"] == "done" for job in report["jobs"].values()), report
        assert report["summary"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_process_passes_the_vocabulary_to_the_transcriber(media_dir: Path, tmp_path: Path) -> None:
    video = in_mp4(media_dir, speak(media_dir, "celery", "en-us", CELERY))
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKMARKAI_ML_")}
    env["BOOKMARKAI_ML_DATA_DIR"] = str(data)
    env["BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR"] = os.environ["BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR"]
    cli = Path(sys.executable).parent / "bookmarkai-ml"

    def transcript(*flags: str) -> str:
        proc = subprocess.run(
            [str(cli), "process", str(video), "--json", *flags],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=420,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        (report,) = json.loads(proc.stdout)
        return str(report["transcript"])

    try:  # one share, two jobs: the options are part of the idempotency key
        plain = transcript()
        hinted = transcript("--vocabulary", "Celery", "-V", "RabbitMQ")
    finally:
        stop_embedded(data)
    assert "celery" not in plain.lower(), plain
    assert "Celery workers" in hinted, hinted
