"""Summaries from any OpenAI-compatible ``/chat/completions`` (OpenAI, Ollama, vLLM, LiteLLM).

The prompt, the validation of the JSON answer, the faithfulness guard with its one
stricter retry, the extractive fallback and the map-reduce of long input are the
recipe the local model shares (``providers.llm_summary``); this module turns a
(system, user) prompt into one HTTP call. Costs come from the ``usage`` the server
reports (counted locally when it reports none), priced by ``domain.pricing``.
Retries and ``Retry-After`` are the shared client's.
"""

from __future__ import annotations

import math
from decimal import Decimal

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.pricing import DEFAULT_TABLE, PriceTable
from bookmarkai_ml.errors import ProviderUnavailableError
from bookmarkai_ml.ports import Summarizer, Summary
from bookmarkai_ml.providers.llm_summary import Completion, LLMSummaries, TagSource
from bookmarkai_ml.providers.openai_http import OpenAIHTTP
from bookmarkai_ml.providers.tokens import count_tokens

#: Tokens of our instructions around each call (counted once, generously).
PROMPT_OVERHEAD_TOKENS = 250


class OpenAIChatSummarizer:
    """``ports.Summarizer`` over ``/chat/completions`` (the shared LLM recipe)."""

    provider = "openai"

    def __init__(
        self,
        *,
        http: OpenAIHTTP,
        model: str,
        fallback: Summarizer,
        tagger: TagSource | None = None,
        chunk_tokens: int = 3000,
        max_output_tokens: int = 600,
        prices: PriceTable = DEFAULT_TABLE,
    ) -> None:
        self.http = http
        self.model = model
        self.chunk_tokens = chunk_tokens
        self.max_output_tokens = max_output_tokens
        self.prices = prices
        self._recipe = LLMSummaries(
            complete=self._complete, fallback=fallback, tagger=tagger, window_tokens=chunk_tokens
        )

    def estimate_cost_usd(self, text: str, options: SummarizeOptions) -> Decimal:
        """Upper estimate: every map call, the reduce call, and one retry of the final call."""
        parts = max(1, math.ceil(count_tokens(text) / self.chunk_tokens))
        final_in = self.max_output_tokens * parts if parts > 1 else count_tokens(text)
        calls = parts + (1 if parts > 1 else 0) + 1
        input_tokens = count_tokens(text) + (final_in if parts > 1 else 0) + final_in
        input_tokens += calls * PROMPT_OVERHEAD_TOKENS
        return self.prices.token_cost(
            self.provider, self.model, input_tokens, calls * self.max_output_tokens
        )

    def summarize(self, text: str, options: SummarizeOptions) -> Summary:
        """The shared recipe's summary (``providers.llm_summary``) from the chat endpoint.

        Raises:
            ProviderRejectedError: the endpoint refused the request (4xx).
            ProviderUnavailableError: retries exhausted, or an answer without content.
        """
        return self._recipe.summarize(text, options)

    def _complete(self, system: str, user: str) -> Completion:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
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
        return Completion(
            content,
            int(reported.get("prompt_tokens") or count_tokens(system + user)),
            int(reported.get("completion_tokens") or count_tokens(content)),
        )
