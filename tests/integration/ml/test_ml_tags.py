"""Tags and summaries on the real MiniLM and spaCy: tags read as tags, summaries compress."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.keyphrases import grounded, is_boilerplate, is_fragment, verbs_in
from bookmarkai_ml.domain.text import STOPWORDS, split_sentences, word_count
from bookmarkai_ml.providers.embed_onnx import OnnxEmbedder
from bookmarkai_ml.providers.pos import SpacyPosTagger
from bookmarkai_ml.providers.summarize_extractive import ExtractiveSummarizer
from bookmarkai_ml.providers.tagger import DUPLICATE_COSINE, Tagger

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[3]
DOCUMENTS = sorted((ROOT / "tests" / "data" / "quality" / "documents").glob("*.txt"))
SAMPLES = ROOT / "src" / "bookmarkai_ml" / "samples"
INPUTS = [*DOCUMENTS, ROOT / "tests" / "data" / "article_1500.txt", *SAMPLES.glob("*.txt")]

#: Text in the style of the old demo's transcript, where its tags were fragments.
OLD_DEMO = (
    "Today we look at how quantum cues keep every message safe when a broker node fails. "
    "The broker knows fails happen, so a quantum queue replicates each message to a majority "
    "of nodes. The street became quiet when the workers stopped. Subscribe to our newsletter "
    "and accept all cookies. If a worker dies in the middle of a task, the message is "
    "delivered again to another worker."
)


@pytest.fixture(scope="module")
def pos() -> SpacyPosTagger:
    return SpacyPosTagger()


@pytest.fixture(scope="module")
def tagger(onnx_embedder: OnnxEmbedder, pos: SpacyPosTagger) -> Tagger:
    return Tagger(onnx_embedder, pos)


def assert_tags_read_as_tags(
    tags: list[str], text: str, embedder: OnnxEmbedder, pos: SpacyPosTagger
) -> None:
    verbs = verbs_in(pos.tag(split_sentences(text)))
    for tag in tags:
        assert tag == tag.lower().strip(), tag
        assert grounded(tag, text), f"{tag!r} is not in the source"
        assert not is_fragment(tag, verbs), f"{tag!r} starts or ends with a stopword or verb"
        words = tag.split()
        assert words[0] not in STOPWORDS, tag
        assert words[-1] not in STOPWORDS, tag
        assert not is_boilerplate(tag), tag
    if len(tags) > 1:
        vectors = embedder.embed(tags)
        cosine = vectors @ vectors.T
        pairs = [
            (tags[i], tags[j])
            for i in range(len(tags))
            for j in range(i + 1, len(tags))
            if cosine[i, j] > DUPLICATE_COSINE
        ]
        assert not pairs, f"near-duplicates: {pairs}"


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_tags_are_3_to_8_grounded_noun_phrases_without_near_duplicates(
    tagger: Tagger, onnx_embedder: OnnxEmbedder, pos: SpacyPosTagger, path: Path
) -> None:
    text = path.read_text()
    tags = tagger.tags(text)
    assert 3 <= len(tags) <= 8, tags
    assert_tags_read_as_tags(tags, text, onnx_embedder, pos)


def test_the_old_demo_fragments_never_come_back(
    tagger: Tagger, onnx_embedder: OnnxEmbedder, pos: SpacyPosTagger
) -> None:
    tags = tagger.tags(OLD_DEMO)
    for fragment in ("quantum cues keep", "broker knows fails", "street became", "cues keep"):
        assert fragment not in tags
        assert not any(t.endswith(("keep", "fails", "became", "knows")) for t in tags), tags
    assert not {"subscribe", "newsletter", "cookies"} & set(tags)
    assert_tags_read_as_tags(tags, OLD_DEMO, onnx_embedder, pos)


def test_the_briefing_gets_a_short_summary_of_its_point(
    onnx_embedder: OnnxEmbedder, tagger: Tagger
) -> None:
    text = (SAMPLES / "speech.txt").read_text()
    out = ExtractiveSummarizer(onnx_embedder, tagger=tagger).summarize(text, SummarizeOptions())
    assert word_count(out.summary) <= word_count(text) / 3
    assert "quorum queues" in out.summary
    assert "Welcome" not in out.summary
    assert "quorum queue" in " ".join(out.tags)
