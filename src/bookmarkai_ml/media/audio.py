"""The AudioProcessor: ffprobe validation and one ffmpeg pass to 16 kHz mono.

- ``probe``: the file is non-empty, ffprobe can read it, its container is on an
  allow-list (no ``concat``/``hls``/image demuxers that could pull other files),
  it has an audio stream and a known duration.
- ``check_duration``: the 30-minute limit (design default), enforced on the probe,
  before any extraction, transcription or spend.
- ``extract``: one ffmpeg run that decodes to 16 kHz mono PCM WAV (what Whisper
  expects), detects silence on the original levels (so a near-silent file is not
  amplified into "speech") and measures EBU R128 loudness and true peak with the
  ``ebur128`` filter; then a linear gain brings the file to the R128 target without
  pushing the true peak over its ceiling. That is ``loudnorm``'s two-pass linear
  mode; single-pass ``loudnorm`` was measured at ~25% of the Whisper time (its
  dynamic mode resamples to 192 kHz), ebur128 at under 4% (docs/transcription.md).
- ``write_chunk``: a slice of that WAV, cut in Python without another ffmpeg run.

ffmpeg/ffprobe only ever read a local file: ``-protocol_whitelist file`` and a
``file:`` URL, so a crafted container cannot make them open a network stream.
Every run is bounded by ``ffmpeg_timeout_s`` and the output by size (``-fs``)
(docs/transcription.md, "Audio processing").
"""

from __future__ import annotations

import json
import re
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np

from bookmarkai_ml.config import MediaSettings
from bookmarkai_ml.errors import MediaError
from bookmarkai_ml.ports import ExtractedAudio, Interval, Probe

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2  # mono, 16-bit
WAV_HEADER_BYTES = 44

#: Demuxers accepted (the first name of ffprobe's ``format_name``).
ALLOWED_FORMATS = frozenset(
    {
        "aac", "aiff", "amr", "asf", "avi", "caf", "flac", "flv", "matroska", "mov", "mp3",
        "mpeg", "mpegts", "ogg", "wav", "w64", "webm", "wv", "3gp",
    }
)  # fmt: skip

_SILENCE_START = re.compile(r"silence_start:\s*(-?[\d.]+)")
_SILENCE_END = re.compile(r"silence_end:\s*(-?[\d.]+)")
_INTEGRATED = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-?inf) LUFS", re.DOTALL)
_TRUE_PEAK = re.compile(r"True peak:\s*Peak:\s*(-?[\d.]+|-?inf) dBFS", re.DOTALL)


def parse_silences(log: str, duration: float) -> list[Interval]:
    """The intervals reported by ffmpeg's ``silencedetect`` filter in ``log``."""
    silences: list[Interval] = []
    start: float | None = None
    for line in log.splitlines():
        if (m := _SILENCE_START.search(line)) is not None:
            start = max(0.0, float(m.group(1)))
        elif (m := _SILENCE_END.search(line)) is not None and start is not None:
            silences.append(Interval(start, min(float(m.group(1)), duration)))
            start = None
    if start is not None and start < duration:
        silences.append(Interval(start, duration))  # silent to the end: no silence_end line
    return silences


class AudioProcessor:
    """``ports.AudioProcessor`` with ffprobe/ffmpeg: validation and Whisper-ready audio."""

    def __init__(
        self, media: MediaSettings, *, ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe"
    ) -> None:
        self._media = media
        self._ffmpeg = ffmpeg
        self._ffprobe = ffprobe

    def _run(self, args: list[str], *, what: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                args,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self._media.ffmpeg_timeout_s,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise MediaError(f"{what} took over {exc.timeout:g}s", code="corrupt_media") from exc

    def probe(self, path: Path) -> Probe:
        """Validate ``path`` with ffprobe.

        Raises:
            MediaError: ``empty_media``, ``corrupt_media``, ``unsupported_format``
                or ``no_audio_stream``.
        """
        if not path.is_file() or path.stat().st_size == 0:
            raise MediaError("the media file is empty", code="empty_media")
        proc = self._run(
            [self._ffprobe, "-v", "error", "-protocol_whitelist", "file", "-print_format",
             "json", "-show_format", "-show_streams", f"file:{path}"],
            what="ffprobe",
        )  # fmt: skip
        info: dict[str, Any] = {}
        if proc.returncode == 0:
            try:
                info = json.loads(proc.stdout or "{}")
            except json.JSONDecodeError:
                info = {}
        fmt = info.get("format") or {}
        if proc.returncode != 0 or not fmt:
            detail = proc.stderr.strip().splitlines()[-1:] or ["unreadable"]
            raise MediaError(f"ffprobe cannot read the media: {detail[0]}", code="corrupt_media")
        demuxer = str(fmt.get("format_name", "")).split(",")[0]
        if demuxer not in ALLOWED_FORMATS:
            raise MediaError(f"container {demuxer!r} is not accepted", code="unsupported_format")
        streams = info.get("streams") or []
        audio = [s for s in streams if s.get("codec_type") == "audio"]
        if not audio:
            raise MediaError("the media has no audio stream", code="no_audio_stream")
        duration = _duration(fmt, audio[0])
        if duration is None:
            raise MediaError("the media's duration is unknown", code="corrupt_media")
        if duration <= 0:
            raise MediaError("the media has no audio samples", code="empty_media")
        has_video = any(s.get("codec_type") == "video" for s in streams)
        return Probe(duration, demuxer, str(audio[0].get("codec_name", "")), has_video)

    def check_duration(self, probe: Probe) -> None:
        """Raises: MediaError ``too_long`` over ``max_duration_s`` (30 minutes by default)."""
        limit = self._media.max_duration_s
        if probe.duration_s > limit:
            raise MediaError(
                f"media is {probe.duration_s / 60:.1f} min, over the {limit / 60:g} min limit",
                code="too_long",
            )

    def extract(
        self, src: Path, dest: Path, probe: Probe, *, max_s: float | None = None
    ) -> ExtractedAudio:
        """Decode the first audio stream to loudness-normalised 16 kHz mono WAV at ``dest``.

        At most ``max_s`` seconds (and never more than ``max_duration_s``) are decoded:
        a container that understates its duration cannot make the job longer, or
        costlier, than what was checked and reserved.

        Raises:
            MediaError: ``corrupt_media`` when decoding fails, ``empty_media`` when
                it yields no samples.
        """
        m = self._media
        limit_s = min(m.max_duration_s, max_s if max_s is not None else m.max_duration_s)
        max_bytes = int((limit_s + 5) * BYTES_PER_SECOND) + WAV_HEADER_BYTES
        af = (
            f"aresample={SAMPLE_RATE},aformat=channel_layouts=mono,"
            f"silencedetect=noise={m.silence_threshold_db:g}dB:d={m.silence_min_s:g},"
            "ebur128=peak=true:framelog=verbose"
        )
        proc = self._run(
            [self._ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-v", "info",
             "-protocol_whitelist", "file", "-f", probe.format_name, "-i", f"file:{src}",
             "-map", "0:a:0", "-vn", "-sn", "-dn", "-af", af, "-ar", str(SAMPLE_RATE),
             "-ac", "1", "-c:a", "pcm_s16le", "-t", f"{limit_s:.3f}",
             "-fs", str(max_bytes), "-f", "wav", "-y", f"file:{dest}"],
            what="ffmpeg",
        )  # fmt: skip
        if proc.returncode != 0 or not dest.is_file():
            tail = proc.stderr.strip().splitlines()[-1:] or ["failed"]
            raise MediaError(f"ffmpeg cannot decode the audio: {tail[0]}", code="corrupt_media")
        duration = wav_duration(dest)
        if duration <= 0:
            raise MediaError("the audio decodes to no samples", code="empty_media")
        loudness, peak = parse_loudness(proc.stderr)
        gain = normalising_gain(
            loudness,
            peak,
            target_lufs=m.loudness_target_lufs,
            ceiling_db=m.loudness_true_peak_db,
            max_gain_db=m.loudness_max_gain_db,
        )
        if gain:
            apply_gain(dest, gain)
        return ExtractedAudio(dest, duration, parse_silences(proc.stderr, duration), loudness, gain)

    def write_chunk(self, wav: Path, span: Interval, dest: Path) -> Path:
        """A slice of the extracted WAV (``write_chunk``), for chunked transcription."""
        return write_chunk(wav, span, dest)


def parse_loudness(log: str) -> tuple[float | None, float | None]:
    """Integrated loudness (LUFS) and true peak (dBFS) from ffmpeg's ebur128 summary."""
    values: list[float | None] = []
    for pattern in (_INTEGRATED, _TRUE_PEAK):
        found = pattern.findall(log)
        values.append(float(found[-1]) if found else None)
    return values[0], values[1]


def normalising_gain(
    loudness: float | None,
    peak: float | None,
    *,
    target_lufs: float,
    ceiling_db: float,
    max_gain_db: float,
) -> float:
    """The linear gain (dB) to reach ``target_lufs`` with the true peak under the ceiling.

    Unmeasurable or silent audio (ebur128 reports -70 LUFS) gets no gain, so noise
    is never amplified into something that looks like speech.
    """
    if loudness is None or loudness <= -70.0 or peak is None or peak == float("-inf"):
        return 0.0
    gain = min(target_lufs - loudness, ceiling_db - peak, max_gain_db)
    return round(gain, 2) if abs(gain) >= 0.1 else 0.0


def apply_gain(path: Path, gain_db: float) -> None:
    """Scale a 16-bit PCM WAV in place by ``gain_db``, clipping at full scale."""
    with wave.open(str(path), "rb") as r:
        params = r.getparams()
        samples = np.frombuffer(r.readframes(r.getnframes()), dtype=np.int16)
    scaled = samples.astype(np.float32) * np.float32(10 ** (gain_db / 20))
    out = np.clip(scaled, -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setparams(params)
        w.writeframes(out.tobytes())


def wav_duration(path: Path) -> float:
    """Duration of a PCM WAV file from its header."""
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def write_chunk(wav: Path, span: Interval, dest: Path) -> Path:
    """Copy ``span`` of the 16 kHz mono WAV ``wav`` into a WAV file at ``dest``."""
    with wave.open(str(wav), "rb") as src:
        rate = src.getframerate()
        first = round(span.start * rate)
        count = max(0, round(span.end * rate) - first)
        src.setpos(min(first, src.getnframes()))
        frames = src.readframes(count)
        with wave.open(str(dest), "wb") as out:
            out.setparams(src.getparams())
            out.writeframes(frames)
    return dest


def _duration(fmt: dict[str, Any], stream: dict[str, Any]) -> float | None:
    for raw in (fmt.get("duration"), stream.get("duration")):
        try:
            value = float(str(raw))
        except ValueError:
            continue
        if value == value:  # not NaN
            return value
    return None
