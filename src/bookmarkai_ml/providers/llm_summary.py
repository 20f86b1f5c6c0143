"""The LLM summary recipe that the chat-API and the local summarizers share.

One recipe, so both LLM paths behave alike (docs/models.md, "LLM summaries"):

1. input of two sentences or fewer (spoken run-ons cut into clauses first, as the
   extractive summarizer counts them) is not worth a model call: the fallback
   summarizer answers it, with ``too_short``;
2. the prompt asks for JSON ``{summary, key_points, tags}`` written in the model's own
   words, within ``word_limit`` (the requested length, and at most a third of the
   source's words);
3. long input is map-reduced: windows of ``window_tokens`` summarised one by one,
   then the partial summaries merged;
4. the answer is validated (``check``): JSON parsed, tolerating code fences and a
   trailing comma; the summary cut to whole sentences within the limit; key points
   and tags capped; tags lower-cased and kept only when their words are in the
   source (the tagger replaces them when fewer than three survive);
5. the faithfulness guard (``domain.faithfulness.unsupported``) checks that every
   number and mid-sentence name in the summary is in the source. A rejected answer
   gets one retry with a stricter prompt that names what was wrong; a second
   rejection falls back to the extractive summary, marked ``method="llm_fallback"``.

Adapters only supply ``Complete``, a function from (system, user) prompts to the
model's text and token usage; the model library stays in its adapter module.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.chunking import ChunkPolicy, chunk_text
from bookmarkai_ml.domain.faithfulness import unsupported
from bookmarkai_ml.domain.keyphrases import is_boilerplate, is_fragment, singular
from bookmarkai_ml.domain.text import (
    split_sentences,
    summary_units,
    truncate_words,
    word_count,
    words,
)
from bookmarkai_ml.ports import Summarizer, Summary
from bookmarkai_ml.providers.tokens import count_tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Completion:
    """What one model call answered, with its token usage."""

    content: str
    input_tokens: int
    output_tokens: int


#: (system prompt, user prompt) -> the model's answer.
Complete = Callable[[str, str], Completion]
#: Text -> 3-8 lower-case tags (the tagger), used when the model's tags fail validation.
TagSource = Callable[[str], list[str]]

MIN_TAGS, MAX_TAGS, MAX_TAG_WORDS = 3, 8, 4
MAX_KEY_POINTS, MAX_KEY_POINT_WORDS = 5, 40
#: A summary has at most this share of the source's words (docs/models.md).
MAX_COMPRESSION = 1 / 3
STYLE_FACTOR = {"brief": 1, "detailed": 2, "bullets": 1}

SYSTEM = (
    "You write short summaries of articles and transcripts that a person saved to read "
    "later. Use your own words. Never add a fact, number or name that the text does not "
    "state. Reply with one JSON object and nothing else: "
    '{"summary": string, "key_points": [string], "tags": [string]}.'
)
_STYLE = {
    "brief": "a short summary in plain prose, 2 or 3 sentences",
    "detailed": "a detailed summary in plain prose",
    "bullets": "a summary as short bullet points, one per line, each starting with '- '",
}


def word_limit(text: str, options: SummarizeOptions) -> int:
    """The summary's word budget: the requested length, and at most a third of the source."""
    asked = options.target_words * STYLE_FACTOR[options.style]
    return max(5, min(asked, int(word_count(text) * MAX_COMPRESSION)))


def instruction(options: SummarizeOptions, limit: int) -> str:
    """The task, as the user prompt states it before the text."""
    language = (
        f"Write in the language {options.language}."
        if options.language
        else "Write in the language of the text."
    )
    return (
        f"Summarize the text below.\n"
        f"- summary: {_STYLE[options.style]}, at most {limit} words. Rephrase the text in "
        "your own words; do not copy its sentences. Keep the most important facts. Write "
        "every number and name exactly as the text writes it, and use no number or name "
        f"that is not in the text. {language}\n"
        "- key_points: 3 short facts from the text, each under 15 words.\n"
        "- tags: 5 lowercase topic words or short noun phrases that appear in the text."
    )


@dataclass(frozen=True, slots=True)
class Problem:
    """Why an answer was rejected, and what the retry prompt tells the model."""

    reason: str
    correction: str


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated answer."""

    summary: str
    key_points: list[str]
    tags: list[str]


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.*\S)\s*$")
_SUMMARY_FIELD = re.compile(r'^\s*\{\s*"summary"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,')
_TAG_JUNK = re.compile(r"[^\w\s\-+.#]")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def parse_summary(content: str) -> tuple[str, list[str], list[str], bool]:
    """(summary, key_points, tags, was_json) from a model's answer, however messy.

    Small models wrap JSON in prose or code fences, or break it; this digs the object
    out, and otherwise keeps the prose as the summary (``was_json`` False).
    """
    text = _FENCE.sub("", content.strip()).strip()
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        inner = text[start : end + 1]
        candidates += [inner, re.sub(r",\s*([}\]])", r"\1", inner)]
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("summary"), str | list):
            summary = data["summary"]
            if isinstance(summary, list):
                summary = "\n".join(f"- {s}" for s in _strings(summary))
            return (
                summary.strip(),
                _strings(data.get("key_points")),
                _strings(data.get("tags")),
                True,
            )
    # An answer cut off by the token limit after a complete "summary" string keeps it.
    if (cut := _SUMMARY_FIELD.search(text)) is not None:
        return json.loads(f'"{cut.group(1)}"').strip(), [], [], True
    # Not JSON: keep the prose; bullet lines double as key points.
    prose = re.sub(r'^\s*\{?\s*"?summary"?\s*:\s*"?', "", text).strip().rstrip('}"').strip()
    points = [m.group(1) for line in prose.splitlines() if (m := _BULLET.match(line))]
    return prose, points, [], False


def fit(summary: str, limit: int) -> str:
    """``summary`` cut to the whole sentences (or bullet lines) that fit in ``limit`` words."""
    if word_count(summary) <= limit:
        return summary
    bullets = summary.lstrip().startswith("- ")
    units = [u for u in summary.splitlines() if u.strip()] if bullets else split_sentences(summary)
    kept: list[str] = []
    for unit in units:
        if word_count(" ".join([*kept, unit])) > limit:
            break
        kept.append(unit)
    return ("\n" if bullets else " ").join(kept)


def _folded(word: str) -> str:
    """A word as tags and their source are compared: lower case, edges trimmed, singular."""
    return singular(word.lower().strip("'\u2019-"))


def clean_tags(tags: list[str], source: str) -> list[str]:
    """Lower-case tags of 1-4 words whose every word is in ``source``, deduplicated, capped.

    The tagger's rules apply too: no stopword or verb at either edge, no boilerplate.
    """
    vocabulary = {_folded(w) for w in words(source)}
    kept: dict[str, frozenset[str]] = {}
    for tag in tags:
        tag = " ".join(_TAG_JUNK.sub(" ", tag.lower()).replace("_", " ").split()).strip(".-#")
        stems = frozenset(_folded(p) for p in words(tag))
        if not stems or len(words(tag)) > MAX_TAG_WORDS or not stems <= vocabulary:
            continue
        if is_fragment(tag) or is_boilerplate(tag):  # the tagger's own rules
            continue
        if any(stems <= other or other <= stems for other in kept.values()):
            continue  # "trams" next to "tram line": one tag
        kept[tag] = stems
    return list(kept)[:MAX_TAGS]


def check(content: str, source: str, limit: int) -> Draft | Problem:
    """The validated answer, or the reason it is rejected (see the module docstring)."""
    summary, points, tags, was_json = parse_summary(content)
    if not was_json or not summary:
        return Problem(
            "invalid",
            "Your previous answer was not the JSON object asked for. Reply with only "
            '{"summary": ..., "key_points": [...], "tags": [...]}.',
        )
    cut = fit(summary, limit)
    if not cut:
        return Problem(
            "too_long",
            f"Your previous summary was too long. Write at most {limit} words, in short sentences.",
        )
    invented = unsupported(cut, source)
    if invented:
        listed = ", ".join(f'"{t}"' for t in invented)
        return Problem(
            f"unsupported {listed}",
            f"Your previous summary used {listed}, which the text does not contain. Write it "
            "again using only facts the text states. Copy every number and name exactly as "
            "the text writes it, or leave it out.",
        )
    faithful_points = {
        truncate_words(p, MAX_KEY_POINT_WORDS): None
        for p in points
        if p != summary and not unsupported(p, source)
    }
    return Draft(cut, list(faithful_points)[:MAX_KEY_POINTS], clean_tags(tags, source))


class LLMSummaries:
    """The recipe above around one model; ``summarize`` is a ``Summarizer.summarize``."""

    def __init__(
        self,
        *,
        complete: Complete,
        fallback: Summarizer,
        tagger: TagSource | None = None,
        window_tokens: int = 3000,
    ) -> None:
        self.complete = complete
        self.fallback = fallback
        self.tagger = tagger
        self.window_tokens = window_tokens

    def windows(self, text: str) -> list[str]:
        """``text`` whole, or split at sentences into windows of ``window_tokens``."""
        if count_tokens(text) <= self.window_tokens:
            return [text]
        policy = ChunkPolicy(self.window_tokens, min(200, self.window_tokens // 10))
        return [c.text for c in chunk_text(text, count_tokens, policy)]

    def summarize(self, text: str, options: SummarizeOptions) -> Summary:
        """Summary, key points and tags of ``text`` by the model, guarded (module docstring).

        Raises:
            whatever ``complete`` raises (an API provider's errors).
        """
        if len(summary_units(text)) <= 2:  # the extractive summarizer's own rule, run-ons cut first
            return self.fallback.summarize(text, options)
        usage = [0, 0]
        limit = word_limit(text, options)
        ask = self._ask(text, options, limit, usage)
        verdict = check(self._call(ask, usage), text, limit)
        if isinstance(verdict, Problem):
            log.info("LLM summary rejected (%s); retrying once", verdict.reason)
            verdict = check(self._call(f"{ask}\n\n{verdict.correction}", usage), text, limit)
        if isinstance(verdict, Problem):
            log.warning("LLM summary rejected twice (%s); extractive fallback", verdict.reason)
            fallen = self.fallback.summarize(text, options)
            return replace(
                fallen,
                method="llm_fallback",
                input_tokens=usage[0] + fallen.input_tokens,
                output_tokens=usage[1] + fallen.output_tokens,
            )
        tags = verdict.tags
        if len(tags) < MIN_TAGS:
            tags = self._tags(text, options)
        return Summary(
            summary=verdict.summary,
            key_points=verdict.key_points,
            tags=tags,
            input_tokens=usage[0],
            output_tokens=usage[1],
            method="llm",
        )

    def _call(self, user: str, usage: list[int]) -> str:
        answer = self.complete(SYSTEM, user)
        usage[0] += answer.input_tokens
        usage[1] += answer.output_tokens
        return answer.content

    def _ask(self, text: str, options: SummarizeOptions, limit: int, usage: list[int]) -> str:
        """The final prompt: over the text itself, or over its parts' summaries (map-reduce)."""
        parts = self.windows(text)
        if len(parts) == 1:
            return f"{instruction(options, limit)}\n\nText:\n{text}"
        partials: list[str] = []
        for i, part in enumerate(parts, start=1):
            part_limit = word_limit(part, options)
            ask = (
                f"This is part {i} of {len(parts)} of a longer text. "
                f"{instruction(options, part_limit)}\n\nPart:\n{part}"
            )
            summary, points, _, _ = parse_summary(self._call(ask, usage))
            partials.append(summary + "".join(f"\n- {p}" for p in points))
        merged = "\n\n".join(f"Part {i}:\n{p}" for i, p in enumerate(partials, start=1))
        return (
            "These are summaries of consecutive parts of one text. Merge them into one. "
            f"{instruction(options, limit)}\n\nPart summaries:\n{merged}"
        )

    def _tags(self, text: str, options: SummarizeOptions) -> list[str]:
        if self.tagger is not None:
            return self.tagger(text)
        return self.fallback.summarize(text, options).tags
