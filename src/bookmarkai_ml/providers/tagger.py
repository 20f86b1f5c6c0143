"""Tags for an item: noun phrases ranked by similarity to the document, with diversity.

KeyBERT's recipe (Grootendorst 2020) on our own MiniLM: candidates are the noun phrases
``domain.keyphrases`` finds in the POS-tagged text; each is embedded and scored by cosine
to the document vector, with a small bonus for frequency and an early first use; MMR then
picks 3..8 that differ. A pick is skipped when its cosine to an earlier one is above 0.8
or one's words contain the other's, so "quorum queue" and "quorum queues" are one tag.

The keybert package itself is not imported: it imports sentence-transformers and torch
(5 s and a few hundred MB on the ONNX path, which otherwise never loads torch), and it
embeds the document as one text, which MiniLM cuts at 256 word pieces; the mean of the
sentence vectors sees the whole document. YAKE was measured as the alternative
(docs/models.md, "Tags") and proposes verb-edged fragments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from bookmarkai_ml.domain.keyphrases import (
    Candidate,
    Token,
    is_boilerplate_sentence,
    is_fragment,
    noun_phrases,
    phrase_key,
    verbs_in,
)
from bookmarkai_ml.domain.mmr import mmr_order
from bookmarkai_ml.domain.text import split_clauses, split_sentences
from bookmarkai_ml.ports import Embedder, FloatArray

DUPLICATE_COSINE = 0.8


class PosTagger(Protocol):
    """Sentences to part-of-speech tagged tokens (``providers.pos.SpacyPosTagger``)."""

    def tag(self, sentences: Sequence[str]) -> list[list[Token]]: ...


def document_vector(embedder: Embedder, sentences: Sequence[str], limit: int = 64) -> FloatArray:
    """The normalised mean of the sentence vectors (at most ``limit``, evenly spread)."""
    if len(sentences) > limit:
        step = len(sentences) / limit
        sentences = [sentences[int(i * step)] for i in range(limit)]
    mean = embedder.embed(list(sentences)).mean(axis=0)
    result: FloatArray = (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)
    return result


class Tagger:
    """3..``max_tags`` lower-case noun-phrase tags, grounded in the text, none near another."""

    def __init__(
        self,
        embedder: Embedder,
        pos: PosTagger,
        *,
        min_tags: int = 3,
        max_tags: int = 8,
        diversity: float = 0.4,
        max_candidates: int = 80,
        floor: float = 0.55,
    ) -> None:
        self.embedder = embedder
        self.pos = pos
        self.min_tags = min_tags
        self.max_tags = max_tags
        self.diversity = diversity
        self.max_candidates = max_candidates
        #: Past ``min_tags``, a tag must score at least this share of the best one's.
        self.floor = floor

    def tags(self, text: str, *, doc_vector: FloatArray | None = None) -> list[str]:
        """The tags of ``text``; ``doc_vector`` saves embedding its sentences again."""
        every = split_sentences(text)
        sentences = [s for s in every if not is_boilerplate_sentence(s)] or every
        if not sentences:
            return []
        # Spoken run-ons are tagged clause by clause: spaCy reads "cooking grab a pan" better cut.
        clauses = [c for s in sentences for c in (split_clauses(s) if len(s.split()) > 40 else [s])]
        tokens = self.pos.tag([_sentence_case(c) for c in clauses])
        verbs = verbs_in(tokens)
        found = [c for c in noun_phrases(tokens) if not is_fragment(c.phrase, verbs)]
        if not found:
            return []
        if doc_vector is None:
            doc_vector = document_vector(self.embedder, sentences)
        total = max(1, sum(len(s) for s in tokens))
        return self._rank(_shortlist(found, self.max_candidates), doc_vector, total)

    def _rank(self, candidates: list[Candidate], doc_vector: FloatArray, total: int) -> list[str]:
        vectors = self.embedder.embed([c.phrase for c in candidates])
        relevance = vectors @ doc_vector
        freq = np.array([math.log1p(c.count) for c in candidates], dtype=np.float32)
        early = np.array([1.0 - c.first / total for c in candidates], dtype=np.float32)
        scores = (relevance + 0.04 * freq + 0.05 * early).astype(np.float32)
        sims = vectors @ vectors.T
        order = mmr_order(
            scores, sims, lam=1 - self.diversity, allowed=list(range(len(candidates)))
        )
        picked: list[int] = []
        best = float(scores.max())
        for i in order:
            if len(picked) >= self.min_tags and scores[i] < self.floor * best:
                break
            if any(
                sims[i, j] > DUPLICATE_COSINE or _nested(candidates[i], candidates[j])
                for j in picked
            ):
                continue
            picked.append(i)
            if len(picked) == self.max_tags:
                break
        return [candidates[i].phrase for i in picked]


def _sentence_case(sentence: str) -> str:
    """A Title Case headline lower-cased past its first letter: taggers read "Wins" as a noun."""
    tokens = sentence.split()
    capitalised = sum(1 for t in tokens if t[:1].isupper())
    if len(tokens) < 4 or capitalised < 0.6 * len(tokens):
        return sentence
    return sentence[:1] + sentence[1:].lower()


def _shortlist(found: list[Candidate], limit: int) -> list[Candidate]:
    """The ``limit`` most frequent candidates, ties to the earliest."""
    return sorted(found, key=lambda c: (-c.count, c.first))[:limit]


def _nested(a: Candidate, b: Candidate) -> bool:
    """One phrase's words are a contiguous part of the other's ("queue" in "quorum queue")."""
    x, y = f" {a.key} ", f" {b.key} "
    return x in y or y in x


__all__ = ["DUPLICATE_COSINE", "PosTagger", "Tagger", "document_vector", "phrase_key"]
