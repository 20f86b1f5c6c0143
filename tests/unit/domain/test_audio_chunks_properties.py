"""Properties of chunk planning and merging over arbitrary durations and silences."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from bookmarkai_ml.contracts import Segment
from bookmarkai_ml.domain.audio_chunks import Interval, merge_segments, plan_chunks
from bookmarkai_ml.domain.hallucination import collapse_repeats

silences = st.lists(
    st.tuples(st.floats(0, 2000), st.floats(0.1, 30)).map(lambda t: Interval(t[0], t[0] + t[1])),
    max_size=40,
)


@given(duration=st.floats(0.1, 1800), silences=silences, max_s=st.floats(60, 600))
def test_chunks_tile_the_audio_within_the_limit(
    duration: float, silences: list[Interval], max_s: float
) -> None:
    chunks = plan_chunks(duration, silences, max_s=max_s)
    assert chunks[0].start == 0
    assert chunks[-1].end == duration
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))
    assert all(0 < c.duration <= max_s + 1e-9 for c in chunks)


segments = st.lists(
    st.tuples(st.floats(-5, 700), st.floats(-5, 700)).map(
        lambda t: Segment(start=max(0, min(t)), end=max(0, max(t)), text="x")
    ),
    max_size=10,
)


@given(parts=st.lists(segments, min_size=1, max_size=4), length=st.floats(1, 600))
def test_merged_segments_are_absolute_monotonic_and_inside_their_chunk(
    parts: list[list[Segment]], length: float
) -> None:
    chunks = [Interval(i * length, (i + 1) * length) for i in range(len(parts))]
    merged = merge_segments(list(zip(chunks, parts, strict=True)))
    assert len(merged) == sum(len(p) for p in parts)
    for seg in merged:
        assert seg.start <= seg.end
    for a, b in itertools.pairwise(merged):
        assert b.start >= a.end
    assert all(seg.end <= chunks[-1].end for seg in merged)


@given(st.text(alphabet="ab .", max_size=60))
def test_collapsing_is_idempotent(text: str) -> None:
    once = collapse_repeats(text)
    assert collapse_repeats(once) == once
