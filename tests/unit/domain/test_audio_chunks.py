"""Chunk planning at silences and monotonic merging of chunk transcripts."""

from __future__ import annotations

import itertools

import pytest

from bookmarkai_ml.contracts import Segment, Word
from bookmarkai_ml.domain.audio_chunks import (
    Interval,
    is_silent,
    max_chunk_seconds,
    merge_segments,
    plan_chunks,
    speech_seconds,
)


def test_short_audio_is_one_chunk() -> None:
    assert plan_chunks(300, [], max_s=600) == [Interval(0, 300)]
    assert plan_chunks(600, [], max_s=600) == [Interval(0, 600)]


def test_long_audio_is_cut_at_the_latest_silence_within_the_limit() -> None:
    silences = [Interval(100, 104), Interval(500, 510), Interval(650, 660)]
    chunks = plan_chunks(720, silences, max_s=600)
    assert chunks == [Interval(0, 505), Interval(505, 720)]


def test_without_silence_the_cut_is_hard_at_the_limit() -> None:
    assert plan_chunks(1500, [], max_s=600) == [
        Interval(0, 600),
        Interval(600, 1200),
        Interval(1200, 1500),
    ]


def test_every_chunk_respects_the_limit_and_they_tile_the_audio() -> None:
    silences = [Interval(t, t + 1) for t in range(0, 1800, 37)]
    chunks = plan_chunks(1800, silences, max_s=600)
    assert all(c.duration <= 600 for c in chunks)
    assert chunks[0].start == 0
    assert chunks[-1].end == 1800
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))


def test_a_silence_too_early_is_not_used_for_a_tiny_chunk() -> None:
    chunks = plan_chunks(700, [Interval(5, 6)], max_s=600, min_s=30)
    assert chunks[0] == Interval(0, 600)


def test_invalid_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_s"):
        plan_chunks(10, [], max_s=0)


def test_silence_accounting() -> None:
    assert speech_seconds(10, [Interval(0, 4), Interval(3, 6)]) == 4
    assert is_silent(10, [Interval(0, 10)], min_speech_s=0.5)
    assert is_silent(10, [Interval(0, 9.8)], min_speech_s=0.5)
    assert not is_silent(10, [Interval(0, 5)], min_speech_s=0.5)
    assert is_silent(0, [], min_speech_s=0.5)


def test_merge_adds_offsets_and_stays_monotonic() -> None:
    first = [Segment(start=0, end=4, text="a"), Segment(start=4, end=9, text="b")]
    # The model overshoots its chunk and goes backwards; both are clamped.
    second = [
        Segment(start=0.5, end=2, text="c", words=[Word(start=0.5, end=1, word="c")]),
        Segment(start=0.2, end=500, text="d"),
    ]
    merged = merge_segments([(Interval(0, 10), first), (Interval(10, 30), second)])
    assert [(s.start, s.end) for s in merged] == [(0, 4), (4, 9), (10.5, 12), (12, 30)]
    assert merged[2].words == [Word(start=10.5, end=11, word="c")]
    starts = [s.start for s in merged]
    assert starts == sorted(starts)


def test_upload_limit_shortens_chunks() -> None:
    assert max_chunk_seconds(600, max_upload_bytes=None, bytes_per_s=32000) == 600
    assert max_chunk_seconds(600, max_upload_bytes=25 * 1024 * 1024, bytes_per_s=32000) == 600
    assert max_chunk_seconds(600, max_upload_bytes=3_200_044, bytes_per_s=32000) == 100
