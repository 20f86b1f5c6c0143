"""A repeated-phrase filter for Whisper output: a guard against hallucination.

Whisper, on music, noise or the tail of a chunk, tends to loop: one phrase repeated
many times ("Thank you. Thank you. Thank you."), within a segment or across
segments. VAD and ``condition_on_previous_text=False`` prevent most loops; this
filter removes what slips through (docs/transcription.md, "Transcribers"):

- inside a segment, a phrase of 1-8 words repeated ``max_repeats`` or more times in a
  row is collapsed to one occurrence;
- a run of identical consecutive segments keeps at most ``max_repeats - 1`` of them;
- segments left empty are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bookmarkai_ml.contracts import Segment

_WORD = re.compile(r"\S+")
_NORMALISE = re.compile(r"[^\w\s']+")


def _norm(word: str) -> str:
    return _NORMALISE.sub("", word).lower()


def collapse_repeats(text: str, *, max_repeats: int = 3, max_phrase_words: int = 8) -> str:
    """Collapse any phrase repeated ``max_repeats``+ times in a row to one occurrence."""
    words = _WORD.findall(text)
    if len(words) < max_repeats:
        return text.strip()
    keys = [_norm(w) for w in words]
    out: list[str] = []
    i = 0
    while i < len(words):
        collapsed = False
        for n in range(1, max_phrase_words + 1):
            phrase = keys[i : i + n]
            if len(phrase) < n or not any(phrase):
                break
            reps = 1
            while keys[i + reps * n : i + (reps + 1) * n] == phrase:
                reps += 1
            if reps >= max_repeats:
                out.extend(words[i : i + n])
                i += reps * n
                collapsed = True
                break
        if not collapsed:
            out.append(words[i])
            i += 1
    return " ".join(out)


def filter_segments(segments: Sequence[Segment], *, max_repeats: int = 3) -> list[Segment]:
    """Drop looping and empty segments and collapse repeats inside each one."""
    kept: list[Segment] = []
    run_key: str | None = None
    run_len = 0
    for seg in segments:
        text = collapse_repeats(seg.text, max_repeats=max_repeats)
        key = " ".join(_norm(w) for w in _WORD.findall(text))
        if not key.strip():
            continue
        run_len = run_len + 1 if key == run_key else 1
        run_key = key
        if run_len >= max_repeats:
            continue
        kept.append(seg if text == seg.text else seg.model_copy(update={"text": text}))
    return kept


def join_text(segments: Sequence[Segment]) -> str:
    """The transcript text of ``segments``, one space between segments."""
    return " ".join(s.text.strip() for s in segments if s.text.strip())
