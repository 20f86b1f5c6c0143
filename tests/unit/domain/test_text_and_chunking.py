"""Sentence splitting, key-phrase candidates and chunk planning (pure)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from bookmarkai_ml.domain.chunking import ChunkPolicy, chunk_segments, chunk_text, plan_chunks
from bookmarkai_ml.domain.text import (
    estimate_tokens,
    split_sentences,
    truncate_words,
    word_count,
)


def count(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class Seg:
    start: float
    end: float
    text: str


def test_sentences_respect_abbreviations_decimals_and_breaks() -> None:
    text = (
        "Dr. Smith paid $3.50 for the U.S. edition. It was cheap! "
        '"Really?" she asked.\n\n- first bullet\n- second bullet'
    )
    assert split_sentences(text) == [
        "Dr. Smith paid $3.50 for the U.S. edition.",
        "It was cheap!",
        '"Really?" she asked.',
        "- first bullet",
        "- second bullet",
    ]


def test_initials_and_lowercase_continuations_do_not_split() -> None:
    assert split_sentences("J. R. R. Tolkien wrote it. e.g. this stays. Done.") == [
        "J. R. R. Tolkien wrote it. e.g. this stays.",
        "Done.",
    ]


def test_token_estimate_errs_high_and_truncation_marks_the_cut() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("one two three four") >= 4
    assert truncate_words("a b c d e", 3) == "a b c\u2026"
    assert word_count("It's a well-known fact.") == 4


def _article(n: int) -> str:
    return " ".join(f"Sentence number {i} has exactly seven words." for i in range(n))


def test_text_windows_fit_overlap_at_sentence_boundaries_and_cover_everything() -> None:
    policy = ChunkPolicy(max_tokens=30, overlap_tokens=10)
    chunks = chunk_text(_article(20), count, policy)
    assert len(chunks) > 3
    assert all(c.tokens <= 30 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        last = split_sentences(before.text)[-1]
        assert after.text.startswith(last), "the next window repeats the last sentence"
    joined = " ".join(c.text for c in chunks)
    assert all(f"number {i} " in joined for i in range(20))
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_an_over_long_sentence_is_cut_into_word_windows() -> None:
    text = " ".join(f"w{i}" for i in range(95)) + "."
    chunks = chunk_text(text, count, ChunkPolicy(max_tokens=40, overlap_tokens=0))
    assert [c.tokens for c in chunks] == [40, 40, 15]


def test_transcripts_group_segments_and_keep_their_times() -> None:
    segments = [Seg(i * 5.0, i * 5.0 + 4.5, "five words in this segment") for i in range(10)]
    chunks = chunk_segments(segments, count, ChunkPolicy(max_tokens=12, overlap_tokens=0))
    assert len(chunks) == 5
    assert (chunks[0].start_s, chunks[0].end_s) == (0.0, 9.5)
    assert (chunks[-1].start_s, chunks[-1].end_s) == (40.0, 49.5)


def test_captions_stay_whole_and_blank_content_gives_nothing() -> None:
    caption = "Best. Pasta. Ever. #food"
    chunks = plan_chunks(content=caption, segments=None, kind="caption", count=count)
    assert [c.text for c in chunks] == [caption]
    assert plan_chunks(content="   ", segments=None, kind="text", count=count) == []


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="overlap_tokens"):
        ChunkPolicy(max_tokens=10, overlap_tokens=10)
