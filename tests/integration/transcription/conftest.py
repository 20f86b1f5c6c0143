"""Fixtures for transcription tests: loopback HTTP servers, espeak speech, ffmpeg media.

Media is generated once per session under a temp dir with real espeak-ng and ffmpeg.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bookmarkai_ml.config import StorageSettings
from bookmarkai_ml.media.storage import S3MediaStore
from support.transcription import SENTENCES, LoopbackServer


@pytest.fixture
def servers() -> Iterator[Callable[..., LoopbackServer]]:
    started: list[LoopbackServer] = []

    def make(host: str = "127.0.0.1") -> LoopbackServer:
        s = LoopbackServer(host=host).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (apt-get install ffmpeg espeak-ng)")


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need("ffmpeg")
    _need("espeak-ng")
    return tmp_path_factory.mktemp("tx-media")


@pytest.fixture(scope="session")
def spoken_text() -> str:
    return " ".join(SENTENCES)


@pytest.fixture(scope="session")
def speech_wav(media_dir: Path) -> Path:
    """The known sentences spoken by espeak-ng, 22 kHz wav."""
    out = media_dir / "speech.wav"
    _run("espeak-ng", "-v", "en-us", "-s", "150", "-w", str(out), " ".join(SENTENCES))
    return out


@pytest.fixture(scope="session")
def speech_mp4(media_dir: Path, speech_wav: Path) -> Path:
    """The same speech inside an H.264 + AAC mp4 video."""
    out = media_dir / "speech.mp4"
    _run(
        "ffmpeg", "-nostdin", "-y", "-f", "lavfi", "-i", "color=c=blue:s=160x120:r=10",
        "-i", str(speech_wav), "-shortest", "-c:v", "libx264", "-preset", "ultrafast",
        "-c:a", "aac", "-b:a", "64k", str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def silent_wav(media_dir: Path) -> Path:
    out = media_dir / "silent.wav"
    _run("ffmpeg", "-nostdin", "-y", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
         "-t", "20", str(out))  # fmt: skip
    return out


@pytest.fixture(scope="session")
def long_tone(media_dir: Path) -> Path:
    """31 minutes of a quiet tone: cheap to make, over the 30-minute limit."""
    out = media_dir / "long.wav"  # 8-bit 8 kHz PCM: written at disk speed, no encoder
    _run("ffmpeg", "-nostdin", "-y", "-f", "lavfi", "-i", "sine=f=440:r=8000", "-t", "1860",
         "-c:a", "pcm_u8", str(out))  # fmt: skip
    return out


@pytest.fixture(scope="session")
def video_only_mp4(media_dir: Path) -> Path:
    out = media_dir / "video-only.mp4"
    _run("ffmpeg", "-nostdin", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x64:r=5", "-t", "2",
         "-c:v", "libx264", "-preset", "ultrafast", str(out))  # fmt: skip
    return out


@pytest.fixture(scope="session")
def corrupt_file(media_dir: Path) -> Path:
    out = media_dir / "corrupt.mp3"
    out.write_bytes(b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 40)
    return out


@pytest.fixture(scope="session")
def empty_file(media_dir: Path) -> Path:
    out = media_dir / "empty.wav"
    out.write_bytes(b"")
    return out


@pytest.fixture(scope="session")
def twelve_minutes(media_dir: Path) -> tuple[Path, float]:
    """~12 minutes: six spoken clips separated by long silences, ending on speech.

    Returns the file and its duration (= the true end of the last speech).
    """
    clips = []
    for i, sentence in enumerate((*SENTENCES, "Thank you for listening to this recording.")):
        clip = media_dir / f"clip{i}.wav"
        _run("espeak-ng", "-v", "en-us", "-s", "150", "-w", str(clip), sentence)
        clips.append(clip)
    inputs: list[str] = []
    for clip in clips:
        inputs += ["-i", str(clip)]
    speech = sum(_duration(c) for c in clips)
    gap = (720 - speech) / (len(clips) - 1)
    parts = [f"[{i}]aresample=16000,apad=pad_dur={gap:.3f}[a{i}]" for i in range(len(clips) - 1)]
    parts.append(f"[{len(clips) - 1}]aresample=16000[a{len(clips) - 1}]")
    labels = "".join(f"[a{i}]" for i in range(len(clips)))
    graph = ";".join(parts) + f";{labels}concat=n={len(clips)}:v=0:a=1[out]"
    out = media_dir / "twelve.wav"
    _run("ffmpeg", "-nostdin", "-y", *inputs, "-filter_complex", graph, "-map", "[out]",
         "-ac", "1", str(out))  # fmt: skip
    return out, _duration(out)


def _duration(path: Path) -> float:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return float(proc.stdout.strip())


@pytest.fixture(scope="session")
def image_png(media_dir: Path) -> Path:
    out = media_dir / "image.png"
    _run("ffmpeg", "-nostdin", "-y", "-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1",
         str(out))  # fmt: skip
    return out


@pytest.fixture(scope="session")
def playlists(media_dir: Path, speech_wav: Path) -> list[Path]:
    """Containers that point at other files: an ffconcat list and an HLS playlist."""
    concat = media_dir / "list.ffconcat"
    concat.write_text(f"ffconcat version 1.0\nfile {speech_wav}\n")
    hls = media_dir / "list.m3u8"
    hls.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXTINF:30,\nfile://{speech_wav}\n#EXT-X-ENDLIST\n"
    )
    return [concat, hls]


@pytest.fixture
def s3_settings() -> Iterator[StorageSettings]:
    """Storage settings for an S3-compatible server (moto's, on 127.0.0.1) with a fresh
    bucket created; stopped after the test."""
    from moto.server import ThreadedMotoServer  # a dev dependency; imported where used

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings = StorageSettings(
        s3_endpoint_url=f"http://{host}:{port}",
        s3_access_key=SecretStr("test"),
        s3_secret_key=SecretStr("test"),
        # moto keeps its buckets for the whole process: a bucket of the test's own
        s3_bucket=f"test-{uuid.uuid4().hex[:12]}",
    )
    S3MediaStore(settings, max_bytes=1)._client.create_bucket(Bucket=settings.s3_bucket)
    yield settings
    server.stop()
