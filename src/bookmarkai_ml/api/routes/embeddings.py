"""``POST /v1/embeddings``: the OpenAI embeddings API over this process's embedder.

Any OpenAI client pointed at ``<api>/v1`` works: a string or a list of strings in,
vectors out as floats or base64 (little-endian float32, which the official client
asks for by default), and ``usage.prompt_tokens`` counted with the model's tokenizer.
"""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter

from bookmarkai_ml.api.deps import EmbedderDep, PrincipalDep
from bookmarkai_ml.api.problems import responses
from bookmarkai_ml.api.schemas.embeddings import (
    EmbeddingCreate,
    EmbeddingData,
    EmbeddingsPublic,
    EmbeddingUsage,
)
from bookmarkai_ml.errors import InvalidInputError, NotFoundError
from bookmarkai_ml.ports import Embedder

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


def _serves(embedder: Embedder, model: str) -> bool:
    """``model`` names the embedder's model, with or without an org prefix."""
    ours = embedder.model.lower()
    asked = model.lower()
    return asked in (ours, ours.rsplit("/", 1)[-1]) or asked.rsplit("/", 1)[-1] == ours


@router.post(
    "/embeddings",
    response_model=EmbeddingsPublic,
    responses=responses(401, 404, 422, 429, 503),
    summary="Create embeddings (OpenAI-compatible)",
)
def create_embeddings(
    body: EmbeddingCreate, embedder: EmbedderDep, _: PrincipalDep
) -> EmbeddingsPublic:
    """Embed ``input`` with the local model; unknown models get 404 ``model_not_found``."""
    if not _serves(embedder, body.model):
        raise NotFoundError(
            f"model {body.model!r} is not served here; use {embedder.model!r}",
            code="model_not_found",
        )
    if body.dimensions is not None and body.dimensions != embedder.dimension:
        raise InvalidInputError(f"{embedder.model} has {embedder.dimension} dimensions")
    texts = [body.input] if isinstance(body.input, str) else body.input
    vectors = np.asarray(embedder.embed(texts), dtype="<f4")
    tokens = sum(embedder.count_tokens(t) for t in texts)
    data = [
        EmbeddingData(
            index=i,
            embedding=base64.b64encode(v.tobytes()).decode()
            if body.encoding_format == "base64"
            else v.tolist(),
        )
        for i, v in enumerate(vectors)
    ]
    usage = EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens)
    return EmbeddingsPublic(data=data, model=embedder.model, usage=usage)
