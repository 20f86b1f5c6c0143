"""Content-aware chunk planning for embeddings (docs/models.md, "Chunking").

- text: sentences packed into windows of at most ``max_tokens``, consecutive
  windows sharing up to ``overlap_tokens`` of whole trailing sentences, so a fact
  that straddles a boundary is still found; a single over-long sentence is cut
  into word windows;
- transcripts: consecutive segments grouped up to ``max_tokens``, each chunk
  keeping the start of its first and the end of its last segment, so a search
  hit points into the audio;
- captions (short posts, titles): embedded whole when they fit.

Token counting is injected (the embedder's own tokenizer), keeping this pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bookmarkai_ml.domain.text import split_sentences

TokenCounter = Callable[[str], int]
ContentKind = Literal["text", "transcript", "caption"]


class TimedText(Protocol):
    """A transcript segment: ``contracts.TranscriptSegmentIn`` or ``contracts.Segment``."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of content to embed; times are set for transcript chunks only."""

    index: int
    text: str
    tokens: int
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True, slots=True)
class ChunkPolicy:
    """Window sizes in tokens of the embedding model (all-MiniLM-L6-v2 reads 256)."""

    max_tokens: int = 200
    overlap_tokens: int = 40

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ValueError("max_tokens must be >= 8")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ValueError("overlap_tokens must be in [0, max_tokens)")


def _split_long(sentence: str, count: TokenCounter, max_tokens: int) -> list[str]:
    """Cut one over-long sentence into consecutive word windows that fit."""
    pieces: list[str] = []
    current: list[str] = []
    for word in sentence.split():
        if current and count(" ".join([*current, word])) > max_tokens:
            pieces.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _units(text: str, count: TokenCounter, max_tokens: int) -> list[tuple[str, int]]:
    units: list[tuple[str, int]] = []
    for sentence in split_sentences(text):
        n = count(sentence)
        if n <= max_tokens:
            units.append((sentence, n))
        else:
            units.extend((p, count(p)) for p in _split_long(sentence, count, max_tokens))
    return units


def chunk_text(text: str, count: TokenCounter, policy: ChunkPolicy = ChunkPolicy()) -> list[Chunk]:
    """Windows of whole sentences, overlapping by trailing sentences (see module doc)."""
    units = _units(text, count, policy.max_tokens)
    chunks: list[Chunk] = []
    window: list[tuple[str, int]] = []
    fresh = 0  # units in ``window`` not already emitted in the previous chunk

    def emit() -> None:
        body = " ".join(u for u, _ in window)
        chunks.append(Chunk(index=len(chunks), text=body, tokens=count(body)))

    for unit in units:
        if window and sum(n for _, n in window) + unit[1] > policy.max_tokens:
            emit()
            carried: list[tuple[str, int]] = []
            for u in reversed(window):
                if sum(n for _, n in carried) + u[1] > policy.overlap_tokens:
                    break
                carried.insert(0, u)
            while carried and sum(n for _, n in carried) + unit[1] > policy.max_tokens:
                carried.pop(0)
            window, fresh = carried, 0
        window.append(unit)
        fresh += 1
    if window and fresh:
        emit()
    return chunks


def chunk_segments(
    segments: Sequence[TimedText], count: TokenCounter, policy: ChunkPolicy = ChunkPolicy()
) -> list[Chunk]:
    """Consecutive transcript segments grouped up to ``max_tokens``, with their times."""
    chunks: list[Chunk] = []
    group: list[tuple[TimedText, int]] = []

    def emit() -> None:
        body = " ".join(s.text.strip() for s, _ in group if s.text.strip())
        if body:
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text=body,
                    tokens=count(body),
                    start_s=group[0][0].start,
                    end_s=group[-1][0].end,
                )
            )

    for segment in segments:
        if not segment.text.strip():
            continue
        n = count(segment.text)
        if group and sum(k for _, k in group) + n > policy.max_tokens:
            emit()
            group = []
        group.append((segment, n))
    if group:
        emit()
    return chunks


def plan_chunks(
    *,
    content: str,
    segments: Sequence[TimedText] | None,
    kind: ContentKind,
    count: TokenCounter,
    policy: ChunkPolicy = ChunkPolicy(),
) -> list[Chunk]:
    """The chunks to embed for one share, by content kind (see module doc)."""
    if segments:
        return chunk_segments(segments, count, policy)
    text = content.strip()
    if not text:
        return []
    if kind == "caption":
        n = count(text)
        if n <= policy.max_tokens:
            return [Chunk(index=0, text=" ".join(text.split()), tokens=n)]
    return chunk_text(text, count, policy)
