"""The extractive summarizer compresses: a third of the words at most, never the input.

The embedder is the in-package fake (hashed bag of words); the POS tagger is the real,
pinned spaCy model (small and fast), so the tag rules run as in production.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.text import split_sentences, summary_units, word_count
from bookmarkai_ml.fakes import FakeEmbedder
from bookmarkai_ml.providers.pos import SpacyPosTagger
from bookmarkai_ml.providers.summarize_extractive import ExtractiveSummarizer, budget
from bookmarkai_ml.providers.tagger import Tagger

ROOT = Path(__file__).parents[3]
DOCUMENTS = sorted((ROOT / "tests" / "data" / "quality" / "documents").glob("*.txt"))
SAMPLES = ROOT / "src" / "bookmarkai_ml" / "samples"
INPUTS = [
    *DOCUMENTS,
    ROOT / "tests" / "data" / "article_1500.txt",
    SAMPLES / "speech.txt",
    SAMPLES / "article.txt",
]


@pytest.fixture(scope="module")
def summarizer() -> ExtractiveSummarizer:
    embedder = FakeEmbedder()
    return ExtractiveSummarizer(embedder, tagger=Tagger(embedder, SpacyPosTagger()))


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_a_summary_has_at_most_a_third_of_the_words_and_is_never_the_input(
    summarizer: ExtractiveSummarizer, path: Path
) -> None:
    text = path.read_text()
    out = summarizer.summarize(text, SummarizeOptions())
    assert (out.method, out.too_short) == ("extractive", False)
    assert 0 < word_count(out.summary) <= word_count(text) / 3
    assert word_count(out.summary) <= 120, "and never over the requested target"
    assert out.summary.strip() != text.strip()
    assert set(split_sentences(out.summary)) != set(summary_units(text)), "never every sentence"


def test_the_briefing_summary_is_its_key_sentence_not_the_greeting(
    summarizer: ExtractiveSummarizer,
) -> None:
    text = (SAMPLES / "speech.txt").read_text()
    out = summarizer.summarize(text, SummarizeOptions())
    assert "quorum queue" in out.summary
    assert "Welcome" not in out.summary
    assert "Thanks for listening" not in out.summary


def test_three_short_sentences_still_compress(summarizer: ExtractiveSummarizer) -> None:
    text = "Cats sleep a lot. Dogs like long walks in the park. Fish swim in small tanks."
    out = summarizer.summarize(text, SummarizeOptions())
    assert not out.too_short
    assert word_count(out.summary) <= word_count(text) / 3 + 1
    assert out.summary != text


@pytest.mark.parametrize(
    ("text", "lead"),
    [
        ("Just one line about a cat. And a second one.", "Just one line about a cat."),
        ("A single sentence with nothing else", "A single sentence with nothing else"),
    ],
)
def test_two_sentences_or_fewer_are_too_short_and_give_the_lead(
    summarizer: ExtractiveSummarizer, text: str, lead: str
) -> None:
    out = summarizer.summarize(text, SummarizeOptions())
    assert (out.summary, out.too_short, out.method) == (lead, True, "extractive")


def test_a_spoken_run_on_without_full_stops_is_summarized_not_too_short(
    summarizer: ExtractiveSummarizer,
) -> None:
    text = (
        ROOT / "tests" / "data" / "quality" / "documents" / "t04_outage_standup.txt"
    ).read_text()
    assert len(split_sentences(text)) == 1
    out = summarizer.summarize(text, SummarizeOptions())
    assert not out.too_short
    assert 0 < word_count(out.summary) <= word_count(text) / 3
    assert all(s[0].isupper() and s.endswith(".") for s in split_sentences(out.summary))


def test_the_budget_is_the_request_or_a_third_whichever_is_smaller() -> None:
    article = " ".join(["word"] * 900)
    assert budget(article, SummarizeOptions(target_words=120)) == 120
    assert budget(article, SummarizeOptions(target_words=120, style="detailed")) == 240
    assert budget(article, SummarizeOptions(target_words=2000)) == 300
    assert budget(" ".join(["word"] * 30), SummarizeOptions()) == 10


def test_bullets_and_empty_input(summarizer: ExtractiveSummarizer) -> None:
    text = (SAMPLES / "article.txt").read_text()
    out = summarizer.summarize(text, SummarizeOptions(style="bullets", target_words=60))
    assert all(line.startswith("- ") for line in out.summary.splitlines())
    assert word_count(out.summary) <= 60
    empty = summarizer.summarize("   ", SummarizeOptions())
    assert (empty.summary, empty.tags) == ("", [])
