"""Benchmark: what users read — transcripts, summaries, tags and search hits — on the defaults.

    python bench/quality.py [--llm | --no-llm] [--skip-asr] [--skip-multilingual]
                            [--skip-summaries] [--skip-retrieval] [--voices en-us,en-gb]
                            [--speeds 150,175]

Data: ``tests/data/quality/`` (written by hand; ``tests/support/quality.py`` holds the
rules for matching facts, normalising text for WER and judging tags, and
``tests/unit/test_quality_data.py`` holds the data to them). Every adapter is built
the way an entry point builds it, from ``Settings`` through ``bootstrap``:

- ``wer_en``: the 20 English sentences spoken by espeak-ng with each voice at each
  speed (16 kHz mono WAV via ffmpeg), transcribed by the default local transcriber with
  no language given, as a job that sets none; corpus WER (errors ÷ reference words)
  after lower-casing, stripping punctuation and spelling numbers out on both sides.
- ``wer_multilingual`` and ``language_accuracy``: the German, Spanish and French
  sentences, six to a clip (about 24 s, a typical short video) at each speed, language
  not given, so it is detected; accuracy is per clip. Shorter clips detect worse
  (docs/quality.md gives the figures for 3 and 1 sentences per clip).
- per summarizer (extractive always; ``local_llm`` when gpt4all is installed, or with
  ``--llm``): ``fact_coverage`` (share of the hand-listed facts a summary covers),
  ``hallucinated_per_summary`` (mean count of numbers and names that
  ``domain.faithfulness.unsupported`` finds) and ``compression`` (mean summary words ÷
  source words), over 10 articles and 5 spoken-style transcripts, default options.
- tags of those summaries: ``tags_grounded`` (share whose words all occur in the
  source, modulo case and plurals), ``tag_duplicates`` (pairs with cosine > 0.8 under
  our embedder), ``tag_fragments`` (tags that start or end with a stopword of
  ``domain/text.py``) and ``tag_count`` (mean per text).
- ``retrieval_top3``: the search test's evaluation (``tests/support/corpus.py``: 200
  generated documents, 20 paraphrased queries) through the embed handler and the
  search service on an embedded Postgres started in a temporary directory and
  stopped at the end.

A bench is not a test: it never asserts. It prints each figure next to its goal.
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
from _machine import machine

from bookmarkai_ml import bootstrap
from bookmarkai_ml.bootstrap import models
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.faithfulness import unsupported
from bookmarkai_ml.domain.pricing import price_table
from bookmarkai_ml.domain.text import STOPWORDS, word_count
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import Embedder, Summarizer, Transcriber

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the data and its rules: tests/support/quality.py

from support.quality import (  # noqa: E402
    Document,
    Utterance,
    covers,
    fragment,
    grounded,
    load_documents,
    load_speech,
    wer_normalise,
)

#: Goals from the issue: (comparison, bound). Printed next to each figure, never asserted.
GOALS: dict[str, tuple[str, float]] = {
    "wer_en": ("<=", 0.08),
    "wer_multilingual": ("<=", 0.30),
    "language_accuracy": (">=", 0.9),
    "fact_coverage": (">=", 0.6),
    "compression": ("<=", 0.35),
    "hallucinated_per_summary": ("<=", 0.0),
    "tags_grounded": (">=", 0.9),
    "tag_duplicates": ("<=", 0.0),
    "tag_fragments": ("<=", 0.0),
    "retrieval_top3": (">=", 1.0),  # the search test's bar: every query in its top 3
}
#: The espeak-ng voice of each non-English language.
VOICES = {"de": "de", "es": "es", "fr": "fr-fr"}
DUPLICATE_COSINE = 0.8


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n== {title}")
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


# -- speech -----------------------------------------------------------------------------


def speak(text: str, voice: str, speed: int, dest: Path) -> float:
    """espeak-ng speech as a 16 kHz mono 16-bit WAV (what the transcriber takes); seconds."""
    raw = dest.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(raw), "-ar", "16000", "-ac", "1",
         "-c:a", "pcm_s16le", str(dest)],
        check=True,
    )  # fmt: skip
    raw.unlink()
    return (dest.stat().st_size - 44) / 32000


@dataclass
class Heard:
    """One clip: the sentences it speaks, and what the transcriber made of it."""

    items: list[Utterance]
    voice: str
    speed: int
    text: str
    language: str | None
    audio_s: float
    seconds: float

    @property
    def reference(self) -> str:
        return " ".join(wer_normalise(i.text, i.language) for i in self.items)

    @property
    def hypothesis(self) -> str:
        return wer_normalise(self.text, self.items[0].language) or "<empty>"

    def per_sentence(self) -> list[tuple[Utterance, float, str]]:
        """Each sentence's WER and the words aligned to it (insertions go to the next one)."""
        refs = [wer_normalise(i.text, i.language).split() for i in self.items]
        owner = [k for k, words in enumerate(refs) for _ in words]
        hyp = self.hypothesis.split()
        errors = [0] * len(refs)
        heard: list[list[str]] = [[] for _ in refs]
        for chunk in jiwer.process_words(self.reference, self.hypothesis).alignments[0]:
            if chunk.type == "insert":
                k = owner[min(chunk.ref_start_idx, len(owner) - 1)]
                errors[k] += chunk.hyp_end_idx - chunk.hyp_start_idx
                heard[k] += hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
                continue
            for r in range(chunk.ref_start_idx, chunk.ref_end_idx):
                k = owner[r]
                if chunk.type != "equal":
                    errors[k] += 1
                if chunk.type != "delete":
                    heard[k].append(hyp[chunk.hyp_start_idx + r - chunk.ref_start_idx])
        return [
            (item, errors[k] / len(refs[k]), " ".join(heard[k]))
            for k, item in enumerate(self.items)
        ]


def listen(
    transcriber: Transcriber, items: Sequence[Utterance], voice: str, speed: int, work: Path
) -> Heard:
    """Speak ``items`` as one clip and transcribe it with no language given (detected)."""
    wav = work / f"{items[0].id}-{voice}-{speed}.wav"
    audio_s = speak(" ".join(i.text for i in items), voice, speed, wav)
    started = time.perf_counter()
    result = transcriber.transcribe(wav, language=None, word_timestamps=False)
    seconds = time.perf_counter() - started
    wav.unlink()
    return Heard(list(items), voice, speed, result.text, result.language, audio_s, seconds)


def clips(
    transcriber: Transcriber,
    items: Sequence[Utterance],
    voice: str,
    per_clip: int,
    speeds: Sequence[int],
    work: Path,
) -> list[Heard]:
    """``items`` spoken ``per_clip`` sentences at a time, at each speed in words per minute."""
    return [
        listen(transcriber, items[k : k + per_clip], voice, speed, work)
        for speed in speeds
        for k in range(0, len(items), per_clip)
    ]


def corpus_wer(heard: Sequence[Heard]) -> float:
    """Errors over all reference words (not a mean of per-clip rates)."""
    return float(jiwer.wer([h.reference for h in heard], [h.hypothesis for h in heard]))


def asr_rows(heard: Sequence[Heard]) -> list[list[object]]:
    """The sentences with an error or a wrongly detected language (per-clip language)."""
    return [
        [item.id, h.voice, h.speed, h.language, f"{wer:.2f}", words]
        for h in heard
        for item, wer, words in h.per_sentence()
        if wer > 0 or h.language != item.language
    ]


# -- summaries and tags -----------------------------------------------------------------


@dataclass
class Summed:
    doc: Document
    summary: str
    tags: list[str]
    method: str
    seconds: float
    covered: list[bool]
    invented: list[str]

    @property
    def compression(self) -> float:
        return word_count(self.summary) / word_count(self.doc.text)


def summarize_all(summarizer: Summarizer, documents: Sequence[Document]) -> list[Summed]:
    done = []
    for doc in documents:
        started = time.perf_counter()
        result = summarizer.summarize(doc.text, SummarizeOptions())
        seconds = time.perf_counter() - started
        covered = [covers(result.summary, fact) for fact in doc.facts]
        invented = unsupported(result.summary, doc.text)
        done.append(
            Summed(doc, result.summary, result.tags, result.method, seconds, covered, invented)
        )
        log(f"  {doc.id}: {sum(covered)}/{len(covered)} facts, {seconds:.1f}s")
    return done


def summary_figures(done: Sequence[Summed]) -> dict[str, float]:
    facts = [c for s in done for c in s.covered]
    return {
        "fact_coverage": round(sum(facts) / len(facts), 3),
        "compression": round(float(np.mean([s.compression for s in done])), 3),
        "hallucinated_per_summary": round(float(np.mean([len(s.invented) for s in done])), 3),
    }


def duplicate_pairs(tags: Sequence[str], embedder: Embedder) -> list[tuple[str, str, float]]:
    if len(tags) < 2:
        return []
    vectors = embedder.embed(list(tags))
    cosine = vectors @ vectors.T
    return [
        (tags[i], tags[j], float(cosine[i, j]))
        for i in range(len(tags))
        for j in range(i + 1, len(tags))
        if cosine[i, j] > DUPLICATE_COSINE
    ]


def tag_figures(done: Sequence[Summed], embedder: Embedder) -> tuple[dict[str, float], list[Any]]:
    all_tags = [(s, t) for s in done for t in s.tags]
    ungrounded = [(s.doc.id, t) for s, t in all_tags if not grounded(t, s.doc.text)]
    fragments = [(s.doc.id, t) for s, t in all_tags if fragment(t, STOPWORDS)]
    duplicates = [(s.doc.id, *p) for s in done for p in duplicate_pairs(s.tags, embedder)]
    figures = {
        "tags_grounded": round(1 - len(ungrounded) / len(all_tags), 3) if all_tags else 0.0,
        "tag_duplicates": len(duplicates),
        "tag_fragments": len(fragments),
        "tag_count": round(len(all_tags) / len(done), 2),
    }
    problems = [[d, "ungrounded", t] for d, t in ungrounded]
    problems += [[d, "fragment", t] for d, t in fragments]
    problems += [[d, "duplicate", f"{a} ~ {b} ({c:.2f})"] for d, a, b, c in duplicates]
    return figures, problems


def report_summaries(name: str, done: Sequence[Summed]) -> None:
    rows = [
        [s.doc.id, s.doc.kind, s.method, f"{sum(s.covered)}/{len(s.covered)}",
         f"{s.compression:.2f}", len(s.invented), len(s.tags), f"{s.seconds:.1f}"]
        for s in done
    ]  # fmt: skip
    table(
        f"summaries: {name}",
        ["doc", "kind", "method", "facts", "compr", "invented", "tags", "s"],
        rows,
    )
    missed = [[s.doc.id, f.label] for s in done for f, c in zip(s.doc.facts, s.covered) if not c]
    table(f"missed facts: {name}", ["doc", "fact"], missed)
    invented = [[s.doc.id, ", ".join(s.invented)] for s in done if s.invented]
    table(f"unsupported numbers/names: {name}", ["doc", "items"], invented)
    table(f"tags: {name}", ["doc", "tags"], [[s.doc.id, " | ".join(s.tags)] for s in done])


# -- retrieval --------------------------------------------------------------------------


def retrieval_top3(settings: Settings, work: Path) -> tuple[float, list[Any]]:
    """The search test's 20 queries over its 200 documents, on an embedded Postgres."""
    from bookmarkai_ml.contracts import EmbedOptions, EmbedTask
    from bookmarkai_ml.db import migrate
    from bookmarkai_ml.db.embedded import stop_embedded
    from bookmarkai_ml.db.engine import transaction
    from bookmarkai_ml.fakes import FakeJobContext
    from support.corpus import corpus, queries

    local = settings.model_copy(update={"data_dir": work / "pg", "database_url": None})
    db = bootstrap.database(local)
    try:
        migrate.upgrade(db.engine)
        embed = bootstrap.embedding_handler(local, db.sessions)
        for n, doc in enumerate(corpus()):
            options = EmbedOptions(source_kind="video" if n % 2 else "web")
            task = EmbedTask(share_id=doc.share_id, tenant_id="quality", content=doc.text,
                             options=options)  # fmt: skip
            embed.embed_now(task, FakeJobContext(task="embed"))
        search = bootstrap.search_service(local)
        misses = []
        asked = queries(20)
        for doc in asked:
            with transaction(db.sessions) as session:
                hits = search.search(session, doc.query, tenant_id="quality", k=3)
            if doc.share_id not in [h.share_id for h in hits]:
                misses.append([doc.query, doc.share_id, ", ".join(h.share_id for h in hits)])
        return round(1 - len(misses) / len(asked), 3), misses
    finally:
        db.close()
        stop_embedded(local.data_dir)


# -- main -------------------------------------------------------------------------------


def llm_wanted(flag: bool | None) -> bool:
    """``--llm``/``--no-llm``, else whether the llm extra (gpt4all) is installed."""
    return flag if flag is not None else importlib.util.find_spec("gpt4all") is not None


def goal_rows(figures: dict[str, Any]) -> list[list[object]]:
    rows: list[list[object]] = []
    for key, value in figures.items():
        base = key.removeprefix("llm_")
        if base not in GOALS or not isinstance(value, int | float):
            continue
        op, bound = GOALS[base]
        met = value <= bound if op == "<=" else value >= bound
        rows.append([key, value, f"{op} {bound}", "yes" if met else "NO"])
    return rows


def timed(label: str, fn: Callable[[], Any], seconds: dict[str, float]) -> Any:
    started = time.perf_counter()
    log(f"{label} ...")
    result = fn()
    seconds[label] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", dest="llm", action="store_true", default=None)
    parser.add_argument("--no-llm", dest="llm", action="store_false")
    parser.add_argument("--skip-asr", action="store_true", help="no English WER")
    parser.add_argument("--skip-multilingual", action="store_true")
    parser.add_argument("--skip-summaries", action="store_true", help="no summaries, no tags")
    parser.add_argument("--skip-retrieval", action="store_true")
    parser.add_argument("--voices", default="en-us,en-gb", help="espeak-ng English voices")
    parser.add_argument("--speeds", default="150,175", help="espeak-ng words per minute")
    parser.add_argument(
        "--clip-sentences",
        type=int,
        default=6,
        help="de/es/fr sentences per clip: 6 is about 24 s, a typical short video",
    )
    args = parser.parse_args()

    facts = machine()
    settings = Settings()
    figures: dict[str, Any] = {"bench": "quality"}
    seconds: dict[str, float] = {}
    english, others = load_speech()
    heard: list[Heard] = []
    foreign: list[Heard] = []
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        work = Path(tmp)
        if not (args.skip_asr and args.skip_multilingual):
            transcriber = models.transcribers(settings, price_table(settings.budgets))["local"]()
            figures["transcriber"] = transcriber.model
        if not args.skip_asr:
            for voice in args.voices.split(","):
                for speed in (int(s) for s in args.speeds.split(",")):
                    heard.append(
                        timed(
                            f"asr {voice}@{speed}",
                            functools.partial(listen, transcriber, english, voice, speed, work),
                            seconds,
                        )
                    )
            figures["wer_en"] = round(corpus_wer(heard), 4)
            figures["wer_en_by_voice"] = {
                f"{h.voice}@{h.speed}": round(corpus_wer([h]), 4) for h in heard
            }
            table(
                "English WER per voice and speed (20 sentences in one clip, language detected)",
                ["voice", "wpm", "audio s", "wer", "language"],
                [[h.voice, h.speed, f"{h.audio_s:.0f}", f"{corpus_wer([h]):.3f}", h.language]
                 for h in heard],
            )  # fmt: skip
            table("English sentences with errors", ["id", "voice", "wpm", "lang", "wer",
                  "heard (normalised)"], asr_rows(heard))  # fmt: skip
        if not args.skip_multilingual:
            n = args.clip_sentences
            for language, voice in VOICES.items():
                foreign += timed(
                    f"asr {language}",
                    functools.partial(
                        clips,
                        transcriber,
                        [u for u in others if u.language == language],
                        voice,
                        n,
                        [int(s) for s in args.speeds.split(",")],
                        work,
                    ),
                    seconds,
                )
            figures["wer_multilingual"] = round(corpus_wer(foreign), 4)
            figures["language_accuracy"] = round(
                sum(h.language == h.items[0].language for h in foreign) / len(foreign), 3
            )
            figures["wer_by_language"] = {
                lang: round(corpus_wer([h for h in foreign if h.items[0].language == lang]), 4)
                for lang in VOICES
            }
            table(f"de/es/fr sentences with errors ({n} per clip, language not given)",
                  ["id", "voice", "wpm", "lang", "wer", "heard (normalised)"],
                  asr_rows(foreign))  # fmt: skip
        if not (args.skip_asr and args.skip_multilingual):
            heard_all = heard + foreign
            audio = sum(h.audio_s for h in heard_all)
            figures["asr_realtime_factor"] = round(audio / sum(h.seconds for h in heard_all), 1)
        if not args.skip_summaries:
            documents = load_documents()
            embedder = bootstrap.embedder(settings)
            done = timed(
                "summaries extractive",
                lambda: summarize_all(bootstrap.summarizer(settings, "extractive"), documents),
                seconds,
            )
            report_summaries("extractive", done)
            figures |= summary_figures(done)
            tags, problems = tag_figures(done, embedder)
            figures |= tags
            table("tag problems: extractive", ["doc", "problem", "tag"], problems)
            if llm_wanted(args.llm):
                try:
                    llm = bootstrap.summarizer(settings, "local_llm")
                except ConfigurationError as exc:
                    log(f"local_llm unavailable: {exc}")
                    figures["llm"] = f"unavailable: {exc}"
                else:
                    done = timed("summaries local_llm",
                                 lambda: summarize_all(llm, documents), seconds)  # fmt: skip
                    report_summaries("local_llm", done)
                    figures["llm_model"] = llm.model
                    figures |= {f"llm_{k}": v for k, v in summary_figures(done).items()}
                    tags, problems = tag_figures(done, embedder)
                    figures |= {f"llm_{k}": v for k, v in tags.items()}
                    figures["llm_methods"] = {m: [s.method for s in done].count(m)
                                              for m in {s.method for s in done}}  # fmt: skip
                    table("tag problems: local_llm", ["doc", "problem", "tag"], problems)
        if not args.skip_retrieval:
            hit_rate, misses = timed("retrieval", lambda: retrieval_top3(settings, work), seconds)
            figures["retrieval_top3"] = hit_rate
            table("retrieval misses", ["query", "expected", "top 3"], misses)
    table("figures against the issue's goals", ["figure", "value", "goal", "met"],
          goal_rows(figures))  # fmt: skip
    figures["seconds"] = seconds
    print(json.dumps({**figures, **facts}))


if __name__ == "__main__":
    main()
