"""Summaries from any OpenAI-compatible ``/chat/completions`` (OpenAI, Ollama, vLLM, LiteLLM).

Long content is map-reduced: split at sentence boundaries into windows of
``chunk_tokens``, each window summarised (map), then the partial summaries merged
(reduce). The model is asked for JSON ``{summary, key_points, tags}``; small models
often wrap it in prose or code fences, or break it, so ``parse_summary`` digs the
object out and otherwise falls back to the raw text as the summary. Costs come from
the ``usage`` the server reports (counted locally when it reports none), priced by
``domain.pricing``. Retries and ``Retry-After`` are the shared client's.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.chunking import ChunkPolicy, chunk_text
from bookmarkai_ml.domain.pricing import DEFAULT_TABLE, PriceTable
from bookmarkai_ml.errors import ProviderUnavailableError
from bookmarkai_ml.ports import Summary
from bookmarkai_ml.providers.openai_http import OpenAIHTTP
from bookmarkai_ml.providers.tokens import count_tokens

#: Tokens of our instructions around each call (counted once, generously).
PROMPT_OVERHEAD_TOKENS = 150

_SYSTEM = (
    "You summarize content that a person saved to read later. Reply with one JSON object "
    'and nothing else: {"summary": string, "key_points": [string], "tags": [string]}. '
    "Tags are 3 to 6 short lowercase topic phrases."
)
_STYLE = {
    "brief": "a brief summary in plain prose",
    "detailed": "a detailed summary in plain prose",
    "bullets": "a summary as short bullet points (one per line, each starting with '- ')",
}
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.*\S)\s*$")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def parse_summary(content: str) -> tuple[str, list[str], list[str], bool]:
    """(summary, key_points, tags, was_json) from a model's answer, however messy."""
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
    # Not JSON: keep the prose; bullet lines double as key points.
    prose = re.sub(r'^\s*\{?\s*"?summary"?\s*:\s*"?', "", text).strip().rstrip('}"').strip()
    points = [m.group(1) for line in prose.splitlines() if (m := _BULLET.match(line))]
    return prose, points, [], False


class OpenAIChatSummarizer:
    """``ports.Summarizer`` over ``/chat/completions`` with map-reduce for long input."""

    provider = "openai"

    def __init__(
        self,
        *,
        http: OpenAIHTTP,
        model: str,
        chunk_tokens: int = 3000,
        max_output_tokens: int = 600,
        prices: PriceTable = DEFAULT_TABLE,
    ) -> None:
        self.http = http
        self.model = model
        self.chunk_tokens = chunk_tokens
        self.max_output_tokens = max_output_tokens
        self.prices = prices

    def _plan(self, text: str) -> list[str]:
        if count_tokens(text) <= self.chunk_tokens:
            return [text]
        policy = ChunkPolicy(self.chunk_tokens, min(200, self.chunk_tokens // 10))
        return [c.text for c in chunk_text(text, count_tokens, policy)]

    def estimate_cost_usd(self, text: str, options: SummarizeOptions) -> Decimal:
        """Upper estimate: every map call plus the reduce call at full output length."""
        parts = max(1, math.ceil(count_tokens(text) / self.chunk_tokens))
        calls = parts + (1 if parts > 1 else 0)
        reduce_in = self.max_output_tokens * parts if parts > 1 else 0
        input_tokens = count_tokens(text) + reduce_in + calls * PROMPT_OVERHEAD_TOKENS
        return self.prices.token_cost(
            self.provider, self.model, input_tokens, calls * self.max_output_tokens
        )

    def summarize(self, text: str, options: SummarizeOptions) -> Summary:
        """Summary, key points and tags; map-reduce when ``text`` exceeds one window.

        Raises:
            ProviderRejectedError: the endpoint refused the request (4xx).
            ProviderUnavailableError: retries exhausted, or an answer without content.
        """
        usage = [0, 0]
        parts = self._plan(text)
        if len(parts) == 1:
            answer = self._chat(self._instruction(options) + "\n\nContent:\n" + text, usage)
            return self._summary(answer, usage)
        partials: list[str] = []
        for i, part in enumerate(parts, start=1):
            ask = (
                f"This is part {i} of {len(parts)} of a longer document. "
                + self._instruction(options)
                + "\n\nPart:\n"
                + part
            )
            summary, points, _, _ = parse_summary(self._chat(ask, usage))
            partials.append(summary + "".join(f"\n- {p}" for p in points))
        merged = "\n\n".join(f"Part {i}:\n{p}" for i, p in enumerate(partials, start=1))
        ask = (
            "These are summaries of consecutive parts of one document. Merge them into one. "
            + self._instruction(options)
            + "\n\nPart summaries:\n"
            + merged
        )
        return self._summary(self._chat(ask, usage), usage)

    def _instruction(self, options: SummarizeOptions) -> str:
        words = options.target_words * (2 if options.style == "detailed" else 1)
        language = f" Write in the language {options.language}." if options.language else ""
        return f"Write {_STYLE[options.style]} of at most {words} words.{language}"

    def _chat(self, prompt: str, usage: list[int]) -> str:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": prompt},
            ],
            "temperature": 0.2,
            "max_tokens": self.max_output_tokens,
            "response_format": {"type": "json_object"},
        }
        answer = self.http.post_json("/chat/completions", body)
        try:
            content = str(answer["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError) as exc:
            raise ProviderUnavailableError(f"chat answer without content: {exc}") from exc
        reported = answer.get("usage") or {}
        usage[0] += int(reported.get("prompt_tokens") or count_tokens(_SYSTEM + prompt))
        usage[1] += int(reported.get("completion_tokens") or count_tokens(content))
        return content

    def _summary(self, answer: str, usage: list[int]) -> Summary:
        summary, points, tags, _ = parse_summary(answer)
        return Summary(
            summary=summary,
            key_points=points,
            tags=[t.lower() for t in tags][:8],
            input_tokens=usage[0],
            output_tokens=usage[1],
        )
