"""The repeated-phrase filter for Whisper loops."""

from __future__ import annotations

from bookmarkai_ml.contracts import Segment
from bookmarkai_ml.domain.hallucination import collapse_repeats, filter_segments, join_text


def seg(text: str, start: float = 0, end: float = 1) -> Segment:
    return Segment(start=start, end=end, text=text)


def test_a_looping_phrase_collapses_to_one() -> None:
    assert collapse_repeats("Thank you. Thank you. Thank you. Thank you.") == "Thank you."
    assert collapse_repeats("so so so so so we went") == "so we went"


def test_ordinary_speech_is_untouched() -> None:
    text = "The quick brown fox jumps over the lazy dog, very very quickly."
    assert collapse_repeats(text) == text
    assert collapse_repeats("Go, go!") == "Go, go!"


def test_repeated_segments_are_dropped_after_two() -> None:
    segments = [seg("Hello there."), seg("Yes."), seg(" yes"), seg("Yes."), seg("Yes!"), seg("Bye")]
    kept = filter_segments(segments)
    assert [s.text for s in kept] == ["Hello there.", "Yes.", "yes", "Bye"]


def test_empty_segments_are_dropped_and_times_kept() -> None:
    kept = filter_segments([seg("  ", 0, 1), seg("a a a a b", 1, 2)])
    assert kept == [Segment(start=1, end=2, text="a b")]
    assert join_text([*kept, seg(" c ")]) == "a b c"
