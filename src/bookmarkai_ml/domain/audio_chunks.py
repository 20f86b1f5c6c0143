"""Audio chunk planning and transcript merging: pure functions over times in seconds.

Long audio is transcribed in chunks of at most ``max_s`` (10 minutes by default), cut
in the middle of a silence so that no word is split (docs/transcription.md, "Chunking
and merging"). The chunk transcripts are merged back with each chunk's offset added,
and clamped so that segment times are absolute and monotonic whatever the model
returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from bookmarkai_ml.contracts import Segment, Word
from bookmarkai_ml.ports import Interval as Interval  # the value type the audio port returns


def speech_seconds(duration: float, silences: Sequence[Interval]) -> float:
    """How much of ``duration`` is not covered by ``silences`` (which may overlap)."""
    covered, cursor = 0.0, 0.0
    for s in sorted(silences, key=lambda i: i.start):
        start, end = max(s.start, cursor, 0.0), min(s.end, duration)
        if end > start:
            covered += end - start
            cursor = end
    return max(0.0, duration - covered)


def is_silent(duration: float, silences: Sequence[Interval], *, min_speech_s: float) -> bool:
    """True when less than ``min_speech_s`` of the audio is above the silence threshold."""
    return duration <= 0 or speech_seconds(duration, silences) < min_speech_s


def plan_chunks(
    duration: float,
    silences: Sequence[Interval],
    *,
    max_s: float,
    min_s: float = 30.0,
) -> list[Interval]:
    """Split ``[0, duration]`` into chunks of at most ``max_s``, cutting at silences.

    Each cut is the midpoint of the latest silence that keeps the chunk within
    ``max_s`` and at least ``min_s`` long; with no such silence the chunk is cut hard
    at ``max_s`` (rare: ten minutes without a pause).
    """
    if max_s <= 0:
        raise ValueError("max_s must be > 0")
    min_s = min(min_s, max_s / 2)
    cuts = sorted((s.start + s.end) / 2 for s in silences if s.end > s.start)
    chunks: list[Interval] = []
    cursor = 0.0
    while duration - cursor > max_s:
        limit = cursor + max_s
        candidates = [c for c in cuts if cursor + min_s <= c <= limit]
        cut = candidates[-1] if candidates else limit
        chunks.append(Interval(cursor, cut))
        cursor = cut
    chunks.append(Interval(cursor, max(cursor, duration)))
    return chunks


def _shift_words(
    words: list[Word] | None, offset: float, lo: float, hi: float
) -> list[Word] | None:
    if words is None:
        return None
    shifted: list[Word] = []
    for w in words:
        start = min(max(w.start + offset, lo), hi)
        shifted.append(
            w.model_copy(update={"start": start, "end": min(max(w.end + offset, start), hi)})
        )
        lo = start
    return shifted


def merge_segments(chunks: Sequence[tuple[Interval, Sequence[Segment]]]) -> list[Segment]:
    """Concatenate per-chunk segments (times relative to their chunk) into absolute time.

    Times are clamped into their chunk and never go backwards, so the result is
    monotonic and non-overlapping: ``start <= end`` and each start is at or after
    the previous segment's end.
    """
    merged: list[Segment] = []
    floor = 0.0
    for chunk, segments in chunks:
        for seg in segments:
            start = min(max(seg.start + chunk.start, chunk.start, floor), chunk.end)
            end = min(max(seg.end + chunk.start, start), chunk.end)
            words = _shift_words(seg.words, chunk.start, start, end)
            merged.append(Segment(start=start, end=end, text=seg.text, words=words))
            floor = end
    return merged


def max_chunk_seconds(
    max_s: float, *, max_upload_bytes: int | None, bytes_per_s: int, header_bytes: int = 44
) -> float:
    """The chunk length that also keeps one uploaded chunk under ``max_upload_bytes``."""
    if max_upload_bytes is None:
        return max_s
    return min(max_s, (max_upload_bytes - header_bytes) / bytes_per_s)
