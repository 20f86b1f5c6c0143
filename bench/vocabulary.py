"""Measure how a job's ``vocabulary`` should reach Whisper: ``hotwords`` or ``initial_prompt``.

    python bench/vocabulary.py [--model base|tiny.en] [--voices en-us,en-gb]

Speaks sentences full of jargon and names with espeak-ng (each voice, each sentence a
clip, plus every sentence in one long clip, where Whisper decodes several 30 s windows),
and transcribes each with the pinned model: no vocabulary, and the vocabulary as
``hotwords`` or as ``initial_prompt``, each either bare ("pgvector, Celery") or framed
as a glossary ("Glossary: pgvector, Celery."). Options otherwise as the worker runs them
(int8, beam 5, VAD, ``condition_on_previous_text=False``).

Reports, per way: ``term_error`` (share of jargon terms in the reference that the
transcript does not contain, spaces and case ignored: the WER on the jargon terms),
the WER of the whole text, the false insertions (vocabulary terms in the transcript
that the sentence does not contain) and the decoding seconds. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine

from bookmarkai_ml.config import ModelSettings
from bookmarkai_ml.domain.vocabulary import GLOSSARY
from bookmarkai_ml.providers.whisper_local import LocalWhisperTranscriber

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.quality import wer  # the one WER normalisation every bench uses

#: (sentence, the jargon terms it contains)
CLIPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "We moved the billing events to quorum queues, so a broker failure loses nothing.",
        ("quorum queues",),
    ),
    ("The embeddings live in Postgres with pgvector and an HNSW index.", ("pgvector", "HNSW")),
    ("Celery workers pick up the transcription tasks from RabbitMQ.", ("Celery", "RabbitMQ")),
    ("The budget guard stops the job before any overspend happens.", ("overspend",)),
    ("Siobhan Okonkwo reviewed the Kubernetes manifests on Monday.", ("Siobhan", "Okonkwo")),
    ("The model runs on CTranslate2 with int8 weights.", ("CTranslate2", "int8")),
    ("Our FastAPI service validates every request with Pydantic.", ("FastAPI", "Pydantic")),
    ("Grafana dashboards show the Prometheus metrics of each worker.", ("Grafana",)),
    ("Ask Raghunathan about the Szymanski account before Friday.", ("Raghunathan", "Szymanski")),
    (
        "The pgvector extension and the quorum queues both need tuning.",
        ("pgvector", "quorum queues"),
    ),
)
VOCABULARY = sorted({t for _, terms in CLIPS for t in terms} | {"Kubernetes", "Prometheus"})
#: way -> (how the vocabulary reaches faster-whisper, how it is framed)
WAYS = {
    "none": ("hotwords", "{}"),
    "hotwords_bare": ("hotwords", "{}"),
    "initial_prompt_bare": ("initial_prompt", "{}"),
    "hotwords_glossary": ("hotwords", GLOSSARY),
    "initial_prompt_glossary": ("initial_prompt", GLOSSARY),
}


def squash(text: str) -> str:
    """Lower case, letters and digits only: "PG vector" and "pgvector" are the same term."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def term_hits(terms: tuple[str, ...], hypothesis: str) -> int:
    flat = squash(hypothesis)
    return sum(squash(t) in flat for t in terms)


def insertions(reference: str, hypothesis: str) -> int:
    ref, hyp = squash(reference), squash(hypothesis)
    return sum(squash(t) in hyp and squash(t) not in ref for t in VOCABULARY)


def speak(text: str, voice: str, out: Path) -> Path:
    wav = out.with_suffix(".22k.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ar", "16000", "-ac", "1",
         str(out)],
        check=True,
    )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--voices", default="en-us,en-gb")
    args = parser.parse_args()
    models = ModelSettings(whisper_model=args.model)
    whisper = {
        way: LocalWhisperTranscriber(models, vocabulary_as=how, vocabulary_frame=frame)
        for way, (how, frame) in WAYS.items()
    }
    hot = whisper["none"]
    hot.warm_up()  # one model, shared by every way (``load_model`` caches)
    totals = {w: {"terms": 0, "hits": 0, "insertions": 0, "seconds": 0.0, "wer": []} for w in WAYS}
    long_totals: dict[str, dict[str, float]] = {}
    misses: dict[str, list[str]] = {w: [] for w in WAYS}
    with tempfile.TemporaryDirectory(prefix="bench-vocab-") as tmp:
        work = Path(tmp)
        for voice in args.voices.split(","):
            clips = [
                (speak(s, voice, work / f"{voice}-{i}.wav"), s, terms)
                for i, (s, terms) in enumerate(CLIPS)
            ]
            whole = " ".join(s for s, _ in CLIPS)
            long = speak(whole, voice, work / f"{voice}-long.wav")
            for way in WAYS:
                for path, sentence, terms in clips:
                    started = time.perf_counter()
                    text = transcribe(whisper[way], path, way)
                    t = totals[way]
                    t["seconds"] += time.perf_counter() - started  # type: ignore[operator]
                    t["terms"] += len(terms)  # type: ignore[operator]
                    hits = term_hits(terms, text)
                    t["hits"] += hits  # type: ignore[operator]
                    t["insertions"] += insertions(sentence, text)  # type: ignore[operator]
                    t["wer"].append(wer(sentence, text))  # type: ignore[union-attr]
                    if hits < len(terms):
                        misses[way].append(f"{voice}: {text}")
                started = time.perf_counter()
                text = transcribe(whisper[way], long, way)
                all_terms = tuple(t for _, ts in CLIPS for t in ts)
                lt = long_totals.setdefault(way, {"terms": 0, "hits": 0, "seconds": 0.0})
                lt["seconds"] += time.perf_counter() - started
                lt["terms"] += len(all_terms)
                lt["hits"] += term_hits(all_terms, text)
                print(f"{voice} long {way}: {text}", file=sys.stderr)
    figures: dict[str, object] = {"bench": "vocabulary", "model": hot.model}
    for way in WAYS:
        t = totals[way]
        wers: list[float] = t["wer"]  # type: ignore[assignment]
        lt = long_totals[way]
        figures[way] = {
            "term_error": round(1 - t["hits"] / t["terms"], 3),  # type: ignore[operator]
            "wer": round(sum(wers) / len(wers), 4),
            "false_insertions": t["insertions"],
            "decode_s": round(t["seconds"], 2),  # type: ignore[arg-type]
            "long_clip_term_error": round(1 - lt["hits"] / lt["terms"], 3),
            "long_clip_decode_s": round(lt["seconds"], 2),
        }
        for line in misses[way]:
            print(f"miss [{way}] {line}", file=sys.stderr)
    figures["vocabulary"] = VOCABULARY
    figures.update(machine())
    print(json.dumps(figures))


def transcribe(whisper: LocalWhisperTranscriber, path: Path, way: str) -> str:
    vocabulary = VOCABULARY if way != "none" else []
    return whisper.transcribe(
        path,
        language="en",
        word_timestamps=False,
        vocabulary=vocabulary,
    ).text


if __name__ == "__main__":
    main()
