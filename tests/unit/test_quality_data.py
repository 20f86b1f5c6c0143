"""The quality benchmark's data holds to its own rules, and the scoring rules do what they say.

``bench/quality.py`` trusts ``tests/data/quality/``: a fact whose terms are not in its
source could never be covered by a faithful summary, and a wrong count would silently
change what the figures mean. These checks run in milliseconds and load no model.
"""

from __future__ import annotations

import re

import pytest

from bookmarkai_ml.domain.text import STOPWORDS, word_count
from support.quality import (
    DATA,
    Fact,
    covers,
    fragment,
    grounded,
    load_documents,
    load_speech,
    present,
    spell,
    wer_normalise,
)


def test_speech_counts_ids_and_languages() -> None:
    english, others = load_speech()
    assert len(english) == 20
    for language in ("de", "es", "fr"):
        assert sum(u.language == language for u in others) >= 6
    assert {u.language for u in others} == {"de", "es", "fr"}
    ids = [u.id for u in english + others]
    assert len(ids) == len(set(ids))
    for u in english + others:
        assert u.text.strip() == u.text, u.id
        assert u.text[-1] in ".?!", u.id
        assert u.id.startswith(u.language), u.id


def test_non_english_sentences_have_no_digits() -> None:
    """Numbers are spelled out only for English WER; other languages avoid them."""
    _, others = load_speech()
    assert not [u.id for u in others if re.search(r"\d", u.text)]


def test_documents_counts_lengths_and_styles() -> None:
    documents = load_documents()
    articles = [d for d in documents if d.kind == "article"]
    transcripts = [d for d in documents if d.kind == "transcript"]
    assert (len(articles), len(transcripts)) == (10, 5)
    assert len({d.id for d in documents}) == 15
    for d in articles:
        assert 200 <= word_count(d.text) <= 1500, d.id
    for d in transcripts:
        assert 120 <= word_count(d.text) <= 400, d.id
        assert "\n" not in d.text.strip(), f"{d.id}: a transcript has no headings or paragraphs"
    assert {d.file for d in documents} == {
        f"documents/{p.name}" for p in (DATA / "documents").glob("*.txt")
    }


def test_every_fact_is_in_its_source() -> None:
    """The first alternative of every group is in the source, so a faithful summary can match."""
    for d in load_documents():
        assert 4 <= len(d.facts) <= 6, d.id
        for fact in d.facts:
            assert fact.label, d.id
            assert fact.must, (d.id, fact.label)
            for group in fact.must:
                assert group, (d.id, fact.label)
                assert present(group[0], d.text), (d.id, fact.label, group[0])
            assert covers(d.text, fact), (d.id, fact.label)


def test_a_fact_needs_every_group_and_any_alternative() -> None:
    fact = Fact("cost", (("610 million",), ("euros", "EUR")))
    assert covers("It cost 610 million EUR.", fact)
    assert covers("It cost 610 Million euros.", fact)
    assert not covers("It cost 610 million.", fact)
    assert not covers("It cost 6100 million euros.", fact)


@pytest.mark.parametrize(
    ("term", "text", "expected"),
    [
        ("400,000", "about 400000 homes", True),
        ("3-2-1", "the 3 2 1 rule", True),
        ("two-factor", "Two\u2013factor login", True),
        ("tram", "tramway", False),
        ("GPS", "their gps routes", True),
    ],
)
def test_present_matches_whole_normalised_words(term: str, text: str, expected: bool) -> None:
    assert present(term, text) is expected


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (40, "forty"),
        (1299, "one thousand two hundred ninety nine"),
        (2_300_000, "two million three hundred thousand"),
    ],
)
def test_spell(n: int, words: str) -> None:
    assert spell(n) == words


def test_wer_normalise_reads_numbers_money_and_punctuation_alike() -> None:
    assert wer_normalise("Raised $40 million.", "en") == wer_normalise(
        "raised 40 million dollars", "en"
    )
    assert wer_normalise("Up by 15%, at 9.", "en") == "up by fifteen percent at nine"
    assert wer_normalise("Dr. Patel's 2.3", "en") == "doctor patel's two point three"
    assert wer_normalise("Ça coûte, d'accord?", "fr") == "ça coûte d'accord"


def test_tag_rules() -> None:
    source = "Quorum queues replicate messages. Batteries last long."
    assert grounded("quorum queue", source)
    assert grounded("battery", source)
    assert not grounded("quantum cues", source)
    assert fragment("the broker", STOPWORDS)
    assert fragment("broker knows fails of", STOPWORDS)
    assert not fragment("quorum queues", STOPWORDS)


def test_wer_normalise_joins_hyphenated_words_but_not_numbers() -> None:
    assert wer_normalise("The start-up's e-mail", "en") == "the startup's email"
    assert wer_normalise("twenty-four 120Hz", "en") == "twenty four one hundred twenty hertz"
