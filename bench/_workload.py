"""What the pipeline bench feeds the stack, and the floor: the same model calls, direct.

- :func:`articles`: distinct English articles of 200-1,500 words, sentences drawn from the
  hand-written quality documents, the 1,500-word test article and the bundled sample.
- :func:`clips`: spoken clips of 30-90 s (espeak-ng, AAC inside .mp4), with their length.
- :class:`Floor`: the models an ``enrich`` runs, called directly in this process with the
  settings the workers use (``bootstrap``, same thread counts): the summarize and embed
  handlers on the jobs ``domain.enrich`` plans for a text, and for a clip faster-whisper on
  the file (the worker's decoding options), then summarize and embed of its transcript. No
  queue, no database, no ffmpeg extraction: the part of an item's time that is the models'.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import EmbedTask, SummarizeTask
from bookmarkai_ml.contracts.messages import EmbedOptions, TranscriptSegmentIn
from bookmarkai_ml.domain.enrich import plan_enrich
from bookmarkai_ml.domain.text import split_sentences
from bookmarkai_ml.fakes import FakeJobContext

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _sentences() -> list[str]:
    paths = sorted((DATA / "quality" / "documents").glob("*.txt"))
    paths += [DATA / "article_1500.txt", ROOT / "src" / "bookmarkai_ml" / "samples" / "article.txt"]
    found = [s for p in paths for s in split_sentences(p.read_text()) if len(s.split()) >= 5]
    return list(dict.fromkeys(found))


def articles(count: int, *, seed: int = 13, words: tuple[int, int] = (200, 1500)) -> list[str]:
    """``count`` distinct articles, lengths spread evenly over ``words``."""
    pool = _sentences()
    rng = np.random.default_rng(seed)
    out = []
    for i, target in enumerate(np.linspace(*words, num=count).round().astype(int)):
        picked = [f"Report {i} of the import."]
        while sum(len(s.split()) for s in picked) < target:
            picked.append(pool[int(rng.integers(len(pool)))])
        out.append(" ".join(picked))
    return [out[int(j)] for j in rng.permutation(count)]  # lengths mixed through the run


#: What the clips say: plain sentences espeak-ng speaks clearly.
SPEECH = [
    "The committee will meet again next week to review the budget for the new library.",
    "Most of the volunteers arrived early and set up the tables before the doors opened.",
    "Heavy rain is expected tonight, so remember to bring an umbrella tomorrow morning.",
    "The museum has added a new exhibition about the history of ships and navigation.",
    "After dinner we walked along the river and watched the sun go down behind the hills.",
    "Our team finished the project two days early and celebrated with a small party.",
    "Please send me the report by Friday so that I can read it over the weekend.",
    "The children built a tall tower out of wooden blocks and then knocked it down.",
    "A new bakery opened on the corner and the line was out the door by eight o'clock.",
    "The train to the coast was delayed because of a signal problem near the bridge.",
]


@dataclass(frozen=True)
class Clip:
    path: Path
    seconds: float


def clips(directory: Path, count: int, *, span: tuple[float, float] = (30, 90)) -> list[Clip]:
    """``count`` spoken clips of ``span`` seconds (evenly spread) as ``clipN.mp4``."""
    made = []
    for i, want in enumerate(np.linspace(*span, num=count)):
        words, spoken = 0, []
        while words < want * 150 / 60:  # espeak-ng at 150 words a minute
            sentence = SPEECH[(i + len(spoken)) % len(SPEECH)]
            spoken.append(sentence)
            words += len(sentence.split())
        wav, mp4 = directory / f"clip{i}.wav", directory / f"clip{i}.mp4"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), " ".join(spoken)],
                       check=True)  # fmt: skip
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac",
                        "-b:a", "64k", "-f", "mp4", str(mp4)], check=True)  # fmt: skip
        wav.unlink()
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             str(mp4)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        made.append(Clip(mp4, float(probe.stdout.strip())))
    return made


class Floor:
    """The models of an ``enrich``, called directly, built as the workers build them."""

    def __init__(self, settings: Settings, db: bootstrap.Database) -> None:
        self.settings = settings
        self.summarize = bootstrap.summarization_handler(settings)
        self.embed = bootstrap.embedding_handler(settings, db.sessions)  # never stores here
        self._whisper: object | None = None

    def text(self, content: str, share_id: str = "floor") -> dict[str, float]:
        """Summary and vectors of one text: the two handlers ``enrich`` plans, in turn;
        returns each one's wall seconds (``summarize``, ``embed``)."""
        seconds: dict[str, float] = {}
        for planned in plan_enrich(
            tenant_id="floor", share_id=share_id, media_url=None, text=content,
            summarize=None, transcribe=None, embed=None,
        ):  # fmt: skip
            message, started = planned.message, time.perf_counter()
            if isinstance(message, SummarizeTask):
                self.summarize(message, FakeJobContext(task="summarize"))
            elif isinstance(message, EmbedTask):
                self.embed(message, FakeJobContext(task="embed"))
            seconds[str(message.task)] = time.perf_counter() - started
        return seconds

    def whisper(self) -> object:
        if self._whisper is None:
            from bookmarkai_ml.providers.whisper_local import LocalWhisperTranscriber, load_model

            m = self.settings.models
            path = LocalWhisperTranscriber(m).path
            self._whisper = load_model(str(path), m.whisper_compute_type, m.whisper_threads)
        return self._whisper

    def media(self, clip: Path) -> float:
        """Transcribe (the worker's options, language detected), then summarize and embed
        the transcript as the follow-up jobs do; returns the audio seconds heard."""
        from bookmarkai_ml.providers.whisper_local import decode

        m = self.settings.models
        segments, info = decode(self.whisper(), str(clip), m, language=None)
        parts = [TranscriptSegmentIn(start=s.start, end=s.end, text=s.text.strip())
                 for s in segments]  # fmt: skip
        text = " ".join(p.text for p in parts)
        self.summarize(SummarizeTask(share_id="floor", tenant_id="floor", content=text),
                       FakeJobContext(task="summarize"))  # fmt: skip
        embed = EmbedTask(
            share_id="floor",
            tenant_id="floor",
            content=text,
            segments=parts,
            options=EmbedOptions(content_kind="transcript", source_kind="video"),
        )
        self.embed(embed, FakeJobContext(task="embed"))
        return float(info.duration)
