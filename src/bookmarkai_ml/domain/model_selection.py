"""Which embedding model serves a piece of content: small vs large, or local.

Pure: the composition root (``bootstrap/models.py``) asks this module, then builds the
adapter (docs/models.md, "Embeddings"). Rules:

- a model named in the task's options wins (the caller knows what its index holds);
- ``local`` and ``onnx`` both serve all-MiniLM-L6-v2 (the same vectors within
  cosine 0.99, stored under one model name, so either can answer queries for both);
- ``openai`` serves ``text-embedding-3-small``;
- ``auto`` uses the API when one is configured, the large model for content of at
  least ``large_min_chars`` (long documents gain most from its 3,072 dimensions) and
  the small one otherwise; without an API it stays on the fast local ONNX path.
"""

from __future__ import annotations

from dataclasses import dataclass

LOCAL_MODEL = "all-MiniLM-L6-v2"
LOCAL_DIMENSION = 384

#: Dimensions of the OpenAI embedding models we know (others are learnt from the answer).
OPENAI_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}

EMBEDDER_KINDS = ("local", "onnx", "openai", "auto")


@dataclass(frozen=True, slots=True)
class EmbedderChoice:
    """The adapter kind (``local`` | ``onnx`` | ``openai``) and the model it runs."""

    kind: str
    model: str


def choose_embedder(
    *,
    configured: str,
    content_chars: int,
    api_configured: bool,
    requested_model: str | None = None,
    small_model: str = "text-embedding-3-small",
    large_model: str = "text-embedding-3-large",
    large_min_chars: int = 20_000,
) -> EmbedderChoice:
    """The embedder for content of ``content_chars`` characters (see module doc).

    Raises:
        ValueError: ``configured`` is not one of ``EMBEDDER_KINDS``.
    """
    if configured not in EMBEDDER_KINDS:
        raise ValueError(f"unknown embedder {configured!r}; expected one of {EMBEDDER_KINDS}")
    local_kind = configured if configured in ("local", "onnx") else "onnx"
    if requested_model:
        if requested_model == LOCAL_MODEL:
            return EmbedderChoice(local_kind, LOCAL_MODEL)
        return EmbedderChoice("openai", requested_model)
    if configured in ("local", "onnx"):
        return EmbedderChoice(configured, LOCAL_MODEL)
    if configured == "openai":
        return EmbedderChoice("openai", small_model)
    if not api_configured:
        return EmbedderChoice("onnx", LOCAL_MODEL)
    model = large_model if content_chars >= large_min_chars else small_model
    return EmbedderChoice("openai", model)
