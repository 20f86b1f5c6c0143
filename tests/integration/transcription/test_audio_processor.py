"""AudioProcessor on real ffmpeg: 16 kHz mono output, loudness target, decode cap."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from bookmarkai_ml.config import MediaSettings
from bookmarkai_ml.media.audio import AudioProcessor, parse_loudness

pytestmark = pytest.mark.integration


def test_extraction_is_16k_mono_near_the_loudness_target(speech_mp4: Path, tmp_path: Path) -> None:
    processor = AudioProcessor(MediaSettings())
    probe = processor.probe(speech_mp4)
    assert probe.has_video
    assert probe.format_name == "mov"
    audio = processor.extract(speech_mp4, tmp_path / "a.wav", probe)
    with wave.open(str(audio.path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
    assert audio.duration_s == pytest.approx(probe.duration_s, abs=0.6)  # video track rounds up
    assert audio.loudness_lufs is not None
    # Measure the output again with ffmpeg: within 1 LU of -23, or peak-limited.
    again = processor.extract(audio.path, tmp_path / "b.wav", processor.probe(audio.path))
    assert again.gain_db == 0.0 or abs(again.gain_db) < 1.0
    assert parse_loudness("") == (None, None)


def test_decoding_stops_at_the_cap(speech_wav: Path, tmp_path: Path) -> None:
    processor = AudioProcessor(MediaSettings())
    audio = processor.extract(speech_wav, tmp_path / "a.wav", processor.probe(speech_wav), max_s=5)
    assert audio.duration_s == pytest.approx(5, abs=0.05)
