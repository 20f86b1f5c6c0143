"""The default, offline summarizer: a third of the words or less, in the document's own sentences.

1. split into sentences; spoken-style run-ons (a transcript with few full stops) are
   cut further at clause breaks, so there is something to choose between;
2. embed them with the local model and score each by centrality (cosine to the mean
   vector, the centroid form of LexRank's degree centrality), plus a lead bonus, because
   news and web articles put their key facts first;
3. pick by maximal marginal relevance (Carbonell & Goldstein 1998) until the budget is
   used, skipping near-duplicates and sentences that lean on the one before ("But it ...");
   print the picks in original order;
4. tags come from ``providers.tagger`` (noun phrases ranked against the same mean vector).

The budget is the smaller of ``target_words`` (x2 for ``detailed``) and a third of the
source's words, so a summary always compresses, and for 3 or more sentences it is never
the input itself. Two sentences or fewer are too short to summarize: the summary is the
lead sentence with ``too_short``. Very long input is subsampled evenly to
``max_sentences`` so time stays bounded. The ``language`` option is ignored.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal

import numpy as np

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.keyphrases import is_boilerplate_sentence
from bookmarkai_ml.domain.mmr import mmr_order
from bookmarkai_ml.domain.text import summary_units, truncate_words, word_count
from bookmarkai_ml.ports import Embedder, FloatArray, Summary
from bookmarkai_ml.providers.tagger import Tagger

STYLE_FACTOR = {"brief": 1.0, "detailed": 2.0, "bullets": 1.0}
#: The largest share of the source's words a summary may have.
MAX_RATIO = 1 / 3
DUPLICATE_COSINE = 0.92

#: Openers that lean on the previous sentence; quoted out of context they read badly.
_LEANING = re.compile(
    r"^(?:but|and|so|or|however|this|that|these|those|they|it|its|he|she|his|her|"
    r"instead|still|also|then|there|here|which|such|yet|thus|meanwhile|as a result|because)\b",
    re.IGNORECASE,
)


def _dangling(sentence: str) -> bool:
    """Whether a sentence needs its neighbours: a leaning opener or a half quotation."""
    quotes = sentence.count('"') + sentence.count("\u201c") + sentence.count("\u201d")
    return bool(_LEANING.match(sentence)) or quotes % 2 == 1


_NUMBER = re.compile(
    r"\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"twenty|thirty|forty|fifty|sixty|hundred|thousand|million|billion|percent|half)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][\w'\u2019-]+")


def _information(sentence: str) -> float:
    """How much checkable detail a sentence carries: numbers and mid-sentence names, 0..1."""
    details = len(_NUMBER.findall(sentence)) + len(_NAME.findall(sentence))
    return min(1.0, details / 3)


def budget(text: str, options: SummarizeOptions) -> int:
    """Words a summary of ``text`` may have: the request's, and never over a third."""
    requested = max(10, round(options.target_words * STYLE_FACTOR[options.style]))
    return max(1, min(requested, int(word_count(text) * MAX_RATIO)))


class ExtractiveSummarizer:
    """``ports.Summarizer`` that quotes the document's own sentences; costs nothing."""

    provider = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        *,
        tagger: Tagger,
        lead_weight: float = 0.35,
        info_weight: float = 0.6,
        diversity: float = 0.6,
        max_sentences: int = 400,
    ) -> None:
        self.embedder = embedder
        self.tagger = tagger
        self.model = embedder.model
        self.lead_weight = lead_weight
        self.info_weight = info_weight
        self.diversity = diversity
        self.max_sentences = max_sentences

    def estimate_cost_usd(self, text: str, options: SummarizeOptions) -> Decimal:
        return Decimal(0)

    def summarize(self, text: str, options: SummarizeOptions) -> Summary:
        """A summary within ``budget``, up to 5 key points and the tagger's tags."""
        sentences = summary_units(text)
        if not sentences:
            return Summary(summary="", key_points=[], tags=[])
        if len(sentences) > self.max_sentences:
            step = len(sentences) / self.max_sentences
            sentences = [sentences[int(i * step)] for i in range(self.max_sentences)]
        vectors = self.embedder.embed(sentences)
        centroid = vectors.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
        tags = self.tagger.tags(text, doc_vector=centroid)
        if len(sentences) <= 2:
            lead = sentences[0]
            return Summary(summary=lead, key_points=[lead], tags=tags, too_short=True)
        scores = self._scores(sentences, vectors, centroid)
        sims = vectors @ vectors.T
        chosen = self._pick(sentences, scores, sims, budget(text, options))
        picked = [sentences[i] for i in chosen]
        key_order = mmr_order(scores, sims, lam=self.diversity, allowed=chosen)
        key_points = [sentences[i] for i in sorted(itertools.islice(key_order, 5))]
        if options.style == "bullets":
            summary = "\n".join(f"- {s}" for s in picked)
        else:
            summary = " ".join(picked)
        return Summary(summary=summary, key_points=key_points, tags=tags)

    def _scores(
        self, sentences: list[str], vectors: FloatArray, centroid: FloatArray
    ) -> FloatArray:
        central = vectors @ centroid
        span = float(central.max() - central.min()) or 1.0
        central = (central - central.min()) / span
        n = len(sentences)
        lead = np.array([1.0 - i / max(n - 1, 1) for i in range(n)], dtype=np.float32) ** 3
        lengths = np.array([word_count(s) for s in sentences], dtype=np.float32)
        fragment = np.where(lengths < 6, 0.5, 0.0) + np.where(lengths > 60, 0.2, 0.0)
        info = np.array([_information(s) for s in sentences], dtype=np.float32)
        result: FloatArray = (
            central + self.lead_weight * lead + self.info_weight * info - fragment
        ).astype(np.float32)
        return result

    def _pick(
        self, sentences: list[str], scores: FloatArray, sims: FloatArray, target: int
    ) -> list[int]:
        """MMR picks that fit ``target`` words, in original order.

        Near-duplicates, leaning openers, greetings and sign-offs are skipped, and never
        every sentence is picked. When no sentence fits, the best one is cut to ``target``.
        """
        lengths = [word_count(s) for s in sentences]
        standalone = [
            i
            for i, s in enumerate(sentences)
            if not _dangling(s) and not is_boilerplate_sentence(s)
        ]
        order = mmr_order(
            scores, sims, lam=self.diversity, allowed=standalone or list(range(len(sentences)))
        )
        first: int | None = None
        picked: list[int] = []
        used = 0
        seen: set[str] = set()
        for i in order:
            first = i if first is None else first
            key = " ".join(sentences[i].lower().split())
            if key in seen or any(sims[i, j] >= DUPLICATE_COSINE for j in picked):
                continue
            if used + lengths[i] <= target and len(picked) < len(sentences) - 1:
                picked.append(i)
                seen.add(key)
                used += lengths[i]
            if target - used < 6:
                break
        if not picked and first is not None:  # the best sentence alone is too long: cut it
            sentences[first] = truncate_words(sentences[first], target)
            picked = [first]
        return sorted(picked)
