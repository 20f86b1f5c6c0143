"""Benchmark: the transcription task vs a direct faster-whisper call on the same audio.

    python bench/transcribe.py [--seconds 60] [--reps 4]

Makes ~``--seconds`` of espeak-ng speech as AAC in an .m4a, loads the default model
(Whisper base multilingual, int8; ``--model tiny.en`` for the English-only one) once,
then alternates a direct faster-whisper call (``whisper_local.decode``: same model, same decoding
options, language detected as a job without one gets it, the file path as input)
with the full task as a worker runs it:
the real job runtime on an embedded Postgres started in a temporary directory (and
stopped at the end): claim with a lease, probe, duration limit, budget reservation,
ffmpeg extraction with silence detection and loudness normalisation, chunk planning,
transcription, merge, hallucination filter, media stored locally, and the finishing
transaction (result, cost row, settled reservation). The best of ``--reps`` runs of
each is compared, since other processes on a shared machine only ever add time.
CPU time (this process and its ffmpeg/ffprobe children) is measured too: it barely
moves when other work shares the cores, so ``cpu_ratio`` and ``realtime_factor_cpu``
(audio seconds x cores / CPU seconds: the wall-clock factor an idle machine would
give) back up the wall-clock figures when the machine is busy; ``load_avg_1m`` says how busy it was.
Both sides run in this process with CTranslate2's OpenMP pool set not to spin
(``OMP_WAIT_POLICY=PASSIVE``), so CPU time is work; the median and spread of each side
are printed next to its best.

Last line: one JSON object with ``time_ratio`` (task / direct, goal <= 1.15) and
``realtime_factor`` (audio seconds / task seconds, goal >= 10 on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from _machine import machine, passive_threads, summary

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import MediaSettings, ModelSettings, Settings
from bookmarkai_ml.contracts import TaskType, TranscribeTask, TranscriptResult, encode_task
from bookmarkai_ml.db import migrate
from bookmarkai_ml.db.embedded import stop_embedded
from bookmarkai_ml.providers.whisper_local import LocalWhisperTranscriber, decode, load_model
from bookmarkai_ml.workers.runtime import Disposition

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.quality import wer  # the one WER normalisation every bench uses

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


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (ffmpeg)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--model", choices=("base", "tiny.en"), default="base")
    parser.add_argument("--batch-size", type=int, default=1, help="models.whisper_batch_size")
    args = parser.parse_args()
    passive = passive_threads()  # before CTranslate2 loads: its pool waits without spinning

    with tempfile.TemporaryDirectory(prefix="bench-transcribe-") as tmp:
        work = Path(tmp)
        settings = Settings(  # type: ignore[call-arg]
            data_dir=work / "data",
            media=MediaSettings(allow_local_paths=True),
            models=ModelSettings(whisper_model=args.model, whisper_batch_size=args.batch_size),
            _env_file=None,
        )
        try:
            run(settings, work, args.seconds, args.reps, passive)
        finally:
            stop_embedded(settings.data_dir)


def run(settings: Settings, work: Path, seconds: float, reps: int, passive: dict[str, str]) -> None:
    models = settings.models
    audio, spoken = make_audio(work, seconds)
    db = bootstrap.database(settings)
    migrate.upgrade(db.engine)
    runtime = bootstrap.job_runtime(settings, db)
    transcriber = LocalWhisperTranscriber(models)
    model = load_model(str(transcriber.path), models.whisper_compute_type, models.whisper_threads)
    runs = itertools.count()

    def direct() -> str:
        # language detected, as for a job that sets none; the worker's decoding
        segments, _ = decode(model, str(audio), models, language=None)
        return " ".join(s.text.strip() for s in segments)

    def task() -> TranscriptResult:
        # a new share each run: the same one would be an idempotent duplicate
        message = TranscribeTask(share_id=f"bench-{next(runs)}", media_url=str(audio))
        report = runtime.run(TaskType.TRANSCRIBE, encode_task(message))
        assert report.disposition is Disposition.DONE, report
        assert report.job_id is not None
        (job,) = runtime.jobs.tree([report.job_id])
        return TranscriptResult.model_validate(job.result)

    task()  # load the worker's model and warm the database pool once, untimed
    direct()  # warm caches (VAD model, allocator) once, untimed
    wall: dict[str, list[float]] = {"direct": [], "task": []}
    cpu: dict[str, list[float]] = {"direct": [], "task": []}
    direct_text, result = "", None
    for rep in range(reps):
        for name in ("direct", "task") if rep % 2 == 0 else ("task", "direct"):
            cpu_before, started = cpu_seconds(), time.perf_counter()
            if name == "direct":
                direct_text = direct()
            else:
                result = task()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(cpu_seconds() - cpu_before)
        print(f"rep {rep}: direct {wall['direct'][-1]:.2f}s task {wall['task'][-1]:.2f}s",
              file=sys.stderr)  # fmt: skip
    assert result is not None
    cores = os.cpu_count() or 1
    best = {k: min(v) for k, v in wall.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    figures = {
        "bench": "transcribe",
        "time_ratio": round(best["task"] / best["direct"], 3),
        "realtime_factor": round(result.duration_s / best["task"], 2),
        "cpu_ratio": round(best_cpu["task"] / best_cpu["direct"], 3),
        "realtime_factor_cpu": round(result.duration_s * cores / best_cpu["task"], 2),
        "audio_s": round(result.duration_s, 2),
        "task_s": round(best["task"], 3),
        "direct_s": round(best["direct"], 3),
        "task_runs_s": [round(t, 3) for t in wall["task"]],
        "direct_runs_s": [round(t, 3) for t in wall["direct"]],
        "task_cpu_s": round(best_cpu["task"], 3),
        "direct_cpu_s": round(best_cpu["direct"], 3),
        "wer_task": round(wer(spoken, result.text), 4),
        "wer_direct": round(wer(spoken, direct_text), 4),
        "model": transcriber.model,
        "language": result.language,
        "language_probability": result.language_probability,
        "runtime": "JobRuntime + embedded Postgres",
        "compute_type": models.whisper_compute_type,
        "beam_size": models.whisper_beam_size,
        "batch_size": models.whisper_batch_size,
        "wall_s_spread": {side: summary(values, best="min") for side, values in wall.items()},
        "cpu_s_spread": {side: summary(values, best="min") for side, values in cpu.items()},
        "time_ratio_median": round(median(wall["task"]) / median(wall["direct"]), 3),
        "passive_threads": passive,
        **machine(),
    }
    print(json.dumps(figures))
    db.close()


if __name__ == "__main__":
    main()
