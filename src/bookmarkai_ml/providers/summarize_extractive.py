"""The default, offline summarizer: central, non-redundant sentences picked with embeddings.

1. split into sentences and embed them with the local embedding model;
2. score each sentence by centrality (cosine to the document's mean vector, the
   centroid form of LexRank's degree centrality), plus a lead bonus, because news
   and web articles put their key facts first, and a penalty for fragments;
3. pick by maximal marginal relevance (Carbonell & Goldstein 1998) until the word
   budget is used, skipping near-duplicates; print the picks in original order;
4. tags: RAKE-style candidate phrases ranked by similarity to the centroid and
   frequency, diversified with MMR as well (KeyBERT's recipe).

Short input is returned whole; very long input is subsampled evenly to
``max_sentences`` so time stays bounded. The ``language`` option is ignored: the
model is English-first, and sentence picking works on any language it tokenizes.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import numpy as np

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.text import candidate_phrases, split_sentences, truncate_words, word_count
from bookmarkai_ml.ports import Embedder, FloatArray, Summary

STYLE_FACTOR = {"brief": 1.0, "detailed": 2.0, "bullets": 1.0}
DUPLICATE_COSINE = 0.92


def mmr_order(
    scores: FloatArray, sims: FloatArray, *, lam: float, allowed: list[int]
) -> Iterator[int]:
    """Indices of ``allowed`` in greedy MMR order: relevance minus redundancy to earlier picks.

    Redundancy is kept as a running maximum, so each step costs O(n).
    """
    pool = np.array(allowed, dtype=np.int64)
    redundancy = np.zeros(len(pool), dtype=np.float32)
    alive = np.ones(len(pool), dtype=bool)
    for _ in range(len(pool)):
        values = np.where(alive, lam * scores[pool] - (1 - lam) * redundancy, -np.inf)
        k = int(np.argmax(values))
        alive[k] = False
        best = int(pool[k])
        redundancy = np.maximum(redundancy, sims[pool, best])
        yield best


def _mmr(
    scores: FloatArray, sims: FloatArray, *, lam: float, limit: int, allowed: list[int]
) -> list[int]:
    return list(itertools.islice(mmr_order(scores, sims, lam=lam, allowed=allowed), limit))


#: Openers that lean on the previous sentence; quoted out of context they read badly.
_LEANING = (
    "but ",
    "and ",
    "so ",
    "however",
    "this ",
    "that ",
    "these ",
    "they ",
    "it ",
    "he ",
    "she ",
    "instead",
    "still",
    "also ",
)


def _dangling(sentence: str) -> bool:
    """Whether a sentence needs its neighbours: a leaning opener or a half quotation."""
    quotes = sentence.count('"') + sentence.count("\u201c") + sentence.count("\u201d")
    return sentence.lower().startswith(_LEANING) or quotes % 2 == 1


def _heading(sentence: str) -> bool:
    """A title or section heading: short and without closing punctuation."""
    return word_count(sentence) < 12 and not sentence.rstrip().endswith(_CLOSERS)


_CLOSERS = (".", "!", "?", '"', "'", ")", "\u201d", "\u2019", "\u2026", ":")


class ExtractiveSummarizer:
    """``ports.Summarizer`` that quotes the document's own sentences; costs nothing."""

    provider = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        *,
        lead_weight: float = 0.35,
        diversity: float = 0.7,
        max_sentences: int = 400,
        max_tags: int = 6,
    ) -> None:
        self.embedder = embedder
        self.model = embedder.model
        self.lead_weight = lead_weight
        self.diversity = diversity
        self.max_sentences = max_sentences
        self.max_tags = max_tags

    def estimate_cost_usd(self, text: str, options: SummarizeOptions) -> Decimal:
        return Decimal(0)

    def summarize(self, text: str, options: SummarizeOptions) -> Summary:
        """Summary within ``target_words`` (x2 for ``detailed``), key points and tags."""
        target = max(10, round(options.target_words * STYLE_FACTOR[options.style]))
        every = split_sentences(text)
        sentences = [s for s in every if not _heading(s)] or every
        if not sentences:
            return Summary(summary="", key_points=[], tags=[])
        if len(sentences) > self.max_sentences:
            step = len(sentences) / self.max_sentences
            sentences = [sentences[int(i * step)] for i in range(self.max_sentences)]
        vectors = self.embedder.embed(sentences)
        centroid = vectors.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
        scores = self._scores(sentences, vectors, centroid)
        sims = vectors @ vectors.T
        if sum(word_count(s) for s in sentences) <= target:
            chosen = list(range(len(sentences)))
        else:
            chosen = self._pick(sentences, scores, sims, target)
        picked = [sentences[i] for i in chosen]
        key_order = _mmr(scores, sims, lam=self.diversity, limit=5, allowed=chosen)
        key_points = [sentences[i] for i in sorted(key_order)]
        if options.style == "bullets":
            summary = "\n".join(f"- {s}" for s in picked)
        else:
            summary = " ".join(picked)
        return Summary(summary=summary, key_points=key_points, tags=self._tags(text, centroid))

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
        dangling = np.array([0.25 if _dangling(s) else 0.0 for s in sentences], dtype=np.float32)
        penalty = fragment + dangling
        result: FloatArray = (central + self.lead_weight * lead - penalty).astype(np.float32)
        return result

    def _pick(
        self, sentences: list[str], scores: FloatArray, sims: FloatArray, target: int
    ) -> list[int]:
        """MMR picks that fit the word budget, near-duplicates skipped, in original order."""
        lengths = [word_count(s) for s in sentences]
        order = mmr_order(scores, sims, lam=self.diversity, allowed=list(range(len(sentences))))
        first: int | None = None
        picked: list[int] = []
        used = 0
        seen: set[str] = set()
        for i in order:
            first = i if first is None else first
            key = " ".join(sentences[i].lower().split())
            if key in seen or any(sims[i, j] >= DUPLICATE_COSINE for j in picked):
                continue
            if used + lengths[i] <= target:
                picked.append(i)
                seen.add(key)
                used += lengths[i]
            if target - used < 6:
                break
        if not picked and first is not None:  # the best sentence alone is too long: cut it
            sentences[first] = truncate_words(sentences[first], target)
            picked = [first]
        return sorted(picked)

    def _tags(self, text: str, centroid: FloatArray) -> list[str]:
        counts = Counter(candidate_phrases(text))
        if not counts:
            return []
        candidates = [p for p, _ in counts.most_common(60)]
        vectors = self.embedder.embed(candidates)
        relevance = vectors @ centroid
        freq = np.array([math.log1p(counts[p]) for p in candidates], dtype=np.float32)
        scores = (relevance + 0.15 * freq).astype(np.float32)
        sims = vectors @ vectors.T
        order = mmr_order(scores, sims, lam=0.6, allowed=list(range(len(candidates))))
        tags: list[str] = []
        for i in order:
            phrase = candidates[i]
            if any(phrase in t or t in phrase for t in tags):
                continue
            tags.append(phrase)
            if len(tags) == self.max_tags:
                break
        return tags
