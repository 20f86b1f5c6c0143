"""TranscriptionService end to end on real media: real ffmpeg, the real default Whisper base.

The handler is called directly with ``FakeJobContext``; the model is wrapped in a
``SpyTranscriber`` to prove when it did *not* run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bookmarkai_ml.config import MediaSettings, ModelSettings
from bookmarkai_ml.contracts import TranscribeOptions, TranscribeTask, TranscriptResult
from bookmarkai_ml.errors import MediaError
from bookmarkai_ml.fakes import FakeJobContext, SpyTranscriber
from bookmarkai_ml.media.audio import AudioProcessor
from bookmarkai_ml.media.download import Downloader
from bookmarkai_ml.media.storage import LocalMediaStore
from bookmarkai_ml.ports import TaskOutcome
from bookmarkai_ml.providers.whisper_local import LocalWhisperTranscriber, decode, load_model
from bookmarkai_ml.services.transcription import TranscriptionService
from support.quality import wer
from support.transcription import LoopbackServer, reply

pytestmark = pytest.mark.integration

Build = Callable[..., tuple[TranscriptionService, SpyTranscriber]]


@pytest.fixture(scope="session")
def whisper() -> LocalWhisperTranscriber:
    model = LocalWhisperTranscriber(ModelSettings())
    model.warm_up()
    return model


@pytest.fixture
def build(whisper: LocalWhisperTranscriber, tmp_path: Path) -> Iterator[Build]:
    made: list[Downloader] = []

    def make(**media: object) -> tuple[TranscriptionService, SpyTranscriber]:
        settings = MediaSettings(allow_local_paths=True, **media)  # type: ignore[arg-type]
        spy = SpyTranscriber(whisper)
        downloader = Downloader(settings)
        made.append(downloader)
        service = TranscriptionService(
            media=settings,
            downloader=downloader,
            processor=AudioProcessor(settings),
            transcribers={"local": lambda: spy},
            store=LocalMediaStore(tmp_path / "store"),
        )
        return service, spy

    yield make
    for d in made:
        d.close()


def task(url: str, **options: object) -> TranscribeTask:
    return TranscribeTask(
        share_id="share-1",
        media_url=url,
        options=TranscribeOptions(**options),  # type: ignore[arg-type]
    )


def transcript(outcome_result: object) -> TranscriptResult:
    assert isinstance(outcome_result, TranscriptResult)
    return outcome_result


def assert_monotonic(result: TranscriptResult) -> None:
    previous_end = 0.0
    for seg in result.segments:
        assert seg.start >= previous_end - 1e-6
        assert seg.end >= seg.start
        previous_end = seg.end


@pytest.fixture(scope="module")
def speech_run(
    whisper: LocalWhisperTranscriber, speech_wav: Path
) -> tuple[TaskOutcome, FakeJobContext, SpyTranscriber]:
    """The espeak speech transcribed once (with words) for the tests that read it."""
    media = MediaSettings(allow_local_paths=True)
    spy = SpyTranscriber(whisper)
    with Downloader(media) as downloader:
        service = TranscriptionService(
            media=media,
            downloader=downloader,
            processor=AudioProcessor(media),
            transcribers={"local": lambda: spy},
        )
        ctx = FakeJobContext()
        return service(task(str(speech_wav), word_timestamps=True), ctx), ctx, spy


def test_espeak_speech_is_transcribed_within_the_wer_goal(
    speech_run: tuple[TaskOutcome, FakeJobContext, SpyTranscriber], spoken_text: str
) -> None:
    outcome, ctx, spy = speech_run
    result = transcript(outcome.result)
    assert wer(spoken_text, result.text) <= 0.35, result.text
    assert result.provider == "local"
    assert result.model == "base"
    assert result.language == "en"
    assert not result.silent
    assert result.chunks == 1
    assert_monotonic(result)
    assert result.segments[-1].end <= result.duration_s + 0.01
    assert outcome.cost.usd == 0
    assert outcome.cost.audio_seconds == pytest.approx(result.duration_s)
    assert outcome.follow_up_text == result.text
    assert outcome.follow_up_segments == result.segments
    assert ctx.reserved == [Decimal(0)]
    assert len(spy.calls) == 1


def test_word_timestamps_are_absolute_and_inside_their_segment(
    speech_run: tuple[TaskOutcome, FakeJobContext, SpyTranscriber],
) -> None:
    result = transcript(speech_run[0].result)
    words = [w for s in result.segments for w in (s.words or [])]
    assert len(words) >= 20
    for seg in result.segments:
        for w in seg.words or []:
            assert seg.start - 0.01 <= w.start <= w.end <= seg.end + 0.01


def test_the_same_speech_in_an_mp4_over_http_gives_the_same_text(
    build: Build,
    speech_run: tuple[TaskOutcome, FakeJobContext, SpyTranscriber],
    speech_mp4: Path,
    spoken_text: str,
    servers: Callable[..., LoopbackServer],
    tmp_path: Path,
) -> None:
    origin = servers()
    origin.routes["/video.mp4"] = reply(200, speech_mp4.read_bytes(), {"Content-Type": "video/mp4"})
    service, _ = build(allowed_hosts=[f"127.0.0.1:{origin.port}"])
    ctx = FakeJobContext()
    from_mp4 = transcript(service(task(origin.url("/video.mp4")), ctx).result)
    from_wav = transcript(speech_run[0].result)
    assert wer(spoken_text, from_mp4.text) <= 0.35, from_mp4.text
    assert wer(from_wav.text, from_mp4.text) <= 0.05, (from_wav.text, from_mp4.text)
    stored = tmp_path / "store" / "default" / "share-1" / str(ctx.job_id) / "source"
    assert stored.read_bytes() == speech_mp4.read_bytes()


def test_silent_audio_is_done_silent_free_and_never_runs_the_model(
    build: Build, silent_wav: Path
) -> None:
    service, spy = build()
    outcome = service(task(str(silent_wav)), FakeJobContext())
    result = transcript(outcome.result)
    assert result.silent
    assert result.text == ""
    assert result.segments == []
    assert result.duration_s == pytest.approx(20, abs=0.1)
    assert outcome.cost.usd == 0
    assert outcome.follow_up_text is None
    assert spy.calls == []


def test_over_long_media_fails_too_long_before_any_spend_or_model(
    build: Build, long_tone: Path
) -> None:
    service, spy = build()
    ctx = FakeJobContext()
    with pytest.raises(MediaError) as exc:
        service(task(str(long_tone)), ctx)
    assert exc.value.code == "too_long"
    assert ctx.reserved == []
    assert spy.calls == []


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("corrupt_file", "corrupt_media"),
        ("video_only_mp4", "no_audio_stream"),
        ("empty_file", "empty_media"),
        ("image_png", "unsupported_format"),
    ],
)
def test_bad_media_fails_with_its_own_code(
    build: Build, request: pytest.FixtureRequest, fixture: str, code: str
) -> None:
    path: Path = request.getfixturevalue(fixture)
    service, spy = build()
    ctx = FakeJobContext()
    with pytest.raises(MediaError) as exc:
        service(task(str(path)), ctx)
    assert exc.value.code == code
    assert ctx.reserved == []
    assert spy.calls == []


@pytest.mark.slow
def test_twelve_minutes_are_two_chunks_cut_at_a_silence(
    build: Build, twelve_minutes: tuple[Path, float]
) -> None:
    path, true_end = twelve_minutes
    service, spy = build()
    ctx = FakeJobContext()
    result = transcript(service(task(str(path)), ctx).result)
    assert result.chunks == 2
    assert len(spy.calls) == 2
    # after download, after storing the media copy (an erasure check), after extraction,
    # between the chunks
    assert ctx.heartbeats == 4
    assert_monotonic(result)
    assert abs(result.segments[-1].end - true_end) <= 2.0, result.segments[-1]
    assert result.segments[0].start < 5
    assert "fox" in result.text.lower()
    assert "listening" in result.text.lower()


def test_playlists_that_point_at_other_files_are_never_followed(
    build: Build, playlists: list[Path]
) -> None:
    service, spy = build()
    for playlist in playlists:
        with pytest.raises(MediaError) as exc:
            service(task(str(playlist)), FakeJobContext())
        assert exc.value.code in ("corrupt_media", "unsupported_format")
    assert spy.calls == []


@pytest.mark.parametrize("batch_size", [1, 2])
def test_decode_runs_the_configured_decoder_on_the_same_speech(
    whisper: LocalWhisperTranscriber, speech_wav: Path, spoken_text: str, batch_size: int
) -> None:
    """``whisper_batch_size`` 1 decodes window after window (with the temperature
    fallback); above 1 the batched pipeline decodes VAD-cut windows at temperature 0 only.
    Both give timestamped segments of the same speech."""
    models = ModelSettings(whisper_batch_size=batch_size)
    model = load_model(str(whisper.path), models.whisper_compute_type, models.whisper_threads)
    raw, info = decode(model, str(speech_wav), models, language="en")
    segments = list(raw)
    temperatures = list(info.transcription_options.temperatures)
    assert temperatures[0] == 0.0
    assert (len(temperatures) == 1) == (batch_size > 1), temperatures
    text = " ".join(s.text.strip() for s in segments)
    assert wer(spoken_text, text) <= 0.35, text
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert all(s.end > s.start for s in segments)
