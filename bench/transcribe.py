"""Benchmark: the transcription task vs a direct faster-whisper call on the same audio.

    python bench/transcribe.py [--seconds 120] [--reps 2]

Makes ~``--seconds`` of espeak-ng speech as AAC in an .m4a, loads tiny.en int8 once,
then alternates a direct ``WhisperModel.transcribe`` call (same model, same
decoding options, the file path as input) with the full task (probe, duration
limit, reservation, ffmpeg extraction with silence detection and loudness
normalisation, chunk planning, transcription, merge, hallucination filter, media
stored locally). The best of ``--reps`` runs of each is compared, since other
processes on a shared machine only ever add time.

Last line: one JSON object with ``time_ratio`` (task / direct, goal <= 1.15) and
``realtime_factor`` (audio seconds / task seconds, goal >= 10 on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jiwer

from bookmarkai_ml.config import MediaSettings, ModelSettings
from bookmarkai_ml.contracts import TranscribeTask, TranscriptResult
from bookmarkai_ml.fakes import FakeJobContext
from bookmarkai_ml.media.audio import AudioProcessor
from bookmarkai_ml.media.download import Downloader
from bookmarkai_ml.media.storage import LocalMediaStore
from bookmarkai_ml.providers.whisper_local import LocalWhisperTranscriber, load_model
from bookmarkai_ml.services.transcription import TranscriptionService

SENTENCES = [
    "The committee will meet again next week to review the budget for the new library.",
    "Most of the volunteers arrived early and set up the tables before the doors opened.",
    "Heavy rain is expected tonight, so remember to bring an umbrella tomorrow morning.",
    "The museum has added a new exhibition about the history of ships and navigation.",
    "After dinner we walked along the river and watched the sun go down behind the hills.",
    "Our team finished the project two days early and celebrated with a small party.",
    "Please send me the report by Friday so that I can read it over the weekend.",
    "The children built a tall tower out of wooden blocks and then knocked it down.",
]


def make_audio(directory: Path, seconds: float) -> tuple[Path, str]:
    """Espeak speech of about ``seconds``, encoded as AAC in an .m4a; returns it and its text."""
    words_per_second = 150 / 60
    text: list[str] = []
    while sum(len(s.split()) for s in text) < seconds * words_per_second:
        text.append(SENTENCES[len(text) % len(SENTENCES)])
    spoken = " ".join(text)
    wav, m4a = directory / "speech.wav", directory / "speech.m4a"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), spoken], check=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "64k",
         str(m4a)],
        check=True,
    )  # fmt: skip
    return m4a, spoken


def wer(reference: str, hypothesis: str) -> float:
    norm = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    return float(
        jiwer.wer(reference, hypothesis, reference_transform=norm, hypothesis_transform=norm)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()

    models = ModelSettings()
    media = MediaSettings(allow_local_paths=True)
    with tempfile.TemporaryDirectory(prefix="bench-transcribe-") as tmp:
        work = Path(tmp)
        audio, spoken = make_audio(work, args.seconds)
        transcriber = LocalWhisperTranscriber(models)
        transcriber.warm_up()
        model = load_model(
            str(transcriber._path), models.whisper_compute_type, models.whisper_threads
        )
        service = TranscriptionService(
            media=media,
            downloader=Downloader(media),
            processor=AudioProcessor(media),
            transcribers={"local": lambda: transcriber},
            store=LocalMediaStore(work / "store"),
        )
        message = TranscribeTask(share_id="bench", media_url=str(audio))

        def direct() -> str:
            segments, _ = model.transcribe(
                str(audio),
                language="en",
                beam_size=models.whisper_beam_size,
                vad_filter=models.whisper_vad,
                condition_on_previous_text=False,
            )
            return " ".join(s.text.strip() for s in segments)

        def task() -> TranscriptResult:
            result = service(message, FakeJobContext()).result
            assert isinstance(result, TranscriptResult)
            return result

        direct()  # warm caches (VAD model, allocator) once, untimed
        direct_times: list[float] = []
        task_times: list[float] = []
        direct_text, result = "", None
        for rep in range(args.reps):
            for name in ("direct", "task") if rep % 2 == 0 else ("task", "direct"):
                started = time.perf_counter()
                if name == "direct":
                    direct_text = direct()
                    direct_times.append(time.perf_counter() - started)
                else:
                    result = task()
                    task_times.append(time.perf_counter() - started)
            print(f"rep {rep}: direct {direct_times[-1]:.2f}s task {task_times[-1]:.2f}s",
                  file=sys.stderr)  # fmt: skip
        assert result is not None
        best_direct, best_task = min(direct_times), min(task_times)
        figures = {
            "bench": "transcribe",
            "time_ratio": round(best_task / best_direct, 3),
            "realtime_factor": round(result.duration_s / best_task, 2),
            "audio_s": round(result.duration_s, 2),
            "task_s": round(best_task, 3),
            "direct_s": round(best_direct, 3),
            "task_runs_s": [round(t, 3) for t in task_times],
            "direct_runs_s": [round(t, 3) for t in direct_times],
            "wer_task": round(wer(spoken, result.text), 4),
            "wer_direct": round(wer(spoken, direct_text), 4),
            "model": transcriber.model,
            "compute_type": models.whisper_compute_type,
            "beam_size": models.whisper_beam_size,
            "cpus": os.cpu_count(),
        }
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
