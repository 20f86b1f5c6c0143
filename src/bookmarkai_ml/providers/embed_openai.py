"""OpenAI-compatible ``/embeddings`` (text-embedding-3-small/-large, or any served model).

Goes through the shared ``OpenAIHTTP`` client (retries, Retry-After, error
translation). Inputs are sent in batches; answers are re-ordered by ``index``, as
the API does not promise order, and normalised (OpenAI's already are; other
servers' may not be). The dimension is known for OpenAI's models and learnt from
the first answer for others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bookmarkai_ml.domain.model_selection import OPENAI_DIMENSIONS
from bookmarkai_ml.errors import ProviderUnavailableError
from bookmarkai_ml.ports import FloatArray
from bookmarkai_ml.providers.openai_http import OpenAIHTTP
from bookmarkai_ml.providers.tokens import count_tokens

#: text-embedding-3 reads at most 8,191 tokens per input.
MAX_INPUT_TOKENS = 8191


def parse_embeddings(body: Any, expected: int) -> tuple[FloatArray, int]:
    """Vectors (in input order, L2-normalised) and ``usage.prompt_tokens`` of an answer.

    Raises:
        ProviderUnavailableError: the answer is not a well-formed embeddings list.
    """
    try:
        items = sorted(body["data"], key=lambda d: int(d.get("index", 0)))
        vectors = np.array([d["embedding"] for d in items], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderUnavailableError(f"malformed embeddings answer: {exc}") from exc
    if vectors.ndim != 2 or len(vectors) != expected:
        raise ProviderUnavailableError(
            f"embeddings answer has {len(vectors)} vectors for {expected} inputs"
        )
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    usage = body.get("usage") or {}
    tokens = int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32), tokens


class OpenAIEmbedder:
    """``ports.Embedder`` over an OpenAI-compatible API."""

    provider = "openai"

    def __init__(self, *, http: OpenAIHTTP, model: str, batch_size: int = 64) -> None:
        self.http = http
        self.model = model
        self.batch_size = batch_size
        self.max_tokens = MAX_INPUT_TOKENS
        self.dimension = OPENAI_DIMENSIONS.get(model, 0)
        self.last_usage_tokens = 0

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """One vector per text, in order.

        Raises:
            ProviderRejectedError: the API refused the request.
            ProviderUnavailableError: retries exhausted, or a malformed answer.
        """
        parts: list[FloatArray] = []
        used = 0
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            body = self.http.post_json(
                "/embeddings", {"model": self.model, "input": batch, "encoding_format": "float"}
            )
            vectors, tokens = parse_embeddings(body, len(batch))
            parts.append(vectors)
            used += tokens
        self.last_usage_tokens = used
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        result = np.concatenate(parts)
        self.dimension = int(result.shape[1])
        return result

    def count_tokens(self, text: str) -> int:
        return count_tokens(text)
