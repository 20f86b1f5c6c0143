"""Benchmark: which keyphrase method makes tags that read as tags — KeyBERT, YAKE or ours.

    python bench/tag_methods.py

Texts: the 10 articles and 5 spoken-style transcripts of ``tests/data/quality/``, the
1,500-word article of ``tests/data/`` and the two bundled samples. Each method proposes
6 tags per text (ours: 3..8), judged by the same rules:

- ``grounded``: share of tags that occur in the text (``domain.keyphrases.grounded``:
  case, spacing and plurals ignored);
- ``fragments``: tags that start or end with a stopword or with a word the POS tagger
  uses as a verb in that text (``domain.keyphrases.is_fragment``);
- ``duplicates``: pairs of tags of one text whose MiniLM cosine is above 0.8;
- ``boilerplate``: tags ``domain.keyphrases.is_boilerplate`` flags;
- ``count`` (mean per text) and ``seconds`` (all texts, after warm-up).

Methods, all on our own all-MiniLM-L6-v2 (ONNX) — nothing downloads:
- ``keybert``: KeyBERT 0.9 with its default candidates (1..3-grams, English stopwords),
  MMR diversity 0.5, top 6, our embedder passed as its backend;
- ``keybert_np``: the same with our noun-phrase candidates;
- ``yake``: YAKE 0.7 (n=3, dedupLim 0.7, top 6);
- ``ours``: ``providers.tagger.Tagger``.

A bench is not a test: it never asserts. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from _machine import machine

from bookmarkai_ml.domain.keyphrases import (
    grounded,
    is_boilerplate,
    is_fragment,
    noun_phrases,
    verbs_in,
)
from bookmarkai_ml.domain.text import split_sentences
from bookmarkai_ml.providers.embed_onnx import OnnxEmbedder
from bookmarkai_ml.providers.pos import SpacyPosTagger
from bookmarkai_ml.providers.tagger import Tagger

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def texts() -> list[tuple[str, str]]:
    docs = sorted((DATA / "quality" / "documents").glob("*.txt"))
    docs += [DATA / "article_1500.txt"]
    docs += sorted((ROOT / "src" / "bookmarkai_ml" / "samples").glob("*.txt"))
    return [(p.stem, p.read_text()) for p in docs]


def main() -> None:
    import yake
    from keybert import KeyBERT
    from keybert.backend import BaseEmbedder

    cache = Path("/tmp/bookmarkai-ml-test-models")
    embedder = OnnxEmbedder(cache_dir=cache)
    pos = SpacyPosTagger()
    ours = Tagger(embedder, pos)

    class Backend(BaseEmbedder):  # type: ignore[misc]
        def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
            return embedder.embed(list(documents))

    keybert = KeyBERT(model=Backend())
    extractor = yake.KeywordExtractor(lan="en", n=3, dedupLim=0.7, top=6)

    def keybert_default(text: str) -> list[str]:
        found = keybert.extract_keywords(
            text, keyphrase_ngram_range=(1, 3), stop_words="english",
            use_mmr=True, diversity=0.5, top_n=6,
        )  # fmt: skip
        return [k for k, _ in found]

    def keybert_np(text: str) -> list[str]:
        tokens = pos.tag(split_sentences(text))
        candidates = [c.phrase for c in noun_phrases(tokens)]
        found = keybert.extract_keywords(
            text, candidates=candidates, keyphrase_ngram_range=(1, 3),
            use_mmr=True, diversity=0.5, top_n=6,
        )  # fmt: skip
        return [k for k, _ in found]

    def yake_tags(text: str) -> list[str]:
        return [k.lower() for k, _ in extractor.extract_keywords(text)]

    methods: dict[str, Callable[[str], list[str]]] = {
        "keybert": keybert_default,
        "keybert_np": keybert_np,
        "yake": yake_tags,
        "ours": ours.tags,
    }
    corpus = texts()
    figures: dict[str, dict[str, float]] = {}
    for name, method in methods.items():
        method(corpus[0][1])  # warm-up
        started = time.perf_counter()
        tagged = [(doc, text, method(text)) for doc, text in corpus]
        seconds = time.perf_counter() - started
        figures[name] = judge(tagged, embedder, pos) | {"seconds": round(seconds, 2)}
        print(f"\n== {name}: {figures[name]}", file=sys.stderr)
        for doc, _, tags in tagged:
            print(f"  {doc}: {tags}", file=sys.stderr)
    print(json.dumps({"machine": machine(), "texts": len(corpus), "methods": figures}))


def judge(
    tagged: Sequence[tuple[str, str, list[str]]], embedder: OnnxEmbedder, pos: SpacyPosTagger
) -> dict[str, float]:
    total = grounded_n = fragments = duplicates = boiler = 0
    for _, text, tags in tagged:
        verbs = verbs_in(pos.tag(split_sentences(text)))
        total += len(tags)
        grounded_n += sum(grounded(t, text) for t in tags)
        fragments += sum(is_fragment(t, verbs) for t in tags)
        boiler += sum(is_boilerplate(t) for t in tags)
        if len(tags) > 1:
            vectors = embedder.embed(tags)
            cosine = vectors @ vectors.T
            duplicates += int(np.sum(np.triu(cosine > 0.8, k=1)))
    return {
        "grounded": round(grounded_n / max(total, 1), 3),
        "fragments": fragments,
        "duplicates": duplicates,
        "boilerplate": boiler,
        "count": round(total / len(tagged), 2),
    }


if __name__ == "__main__":
    main()
