"""OpenAI-compatible embeddings schemas (https://platform.openai.com/docs/api-reference/embeddings)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

#: OpenAI's own per-request cap on inputs.
MAX_INPUTS = 2048

EmbeddingText = Annotated[str, Field(min_length=1, max_length=100_000)]
EmbeddingTexts = Annotated[list[EmbeddingText], Field(min_length=1, max_length=MAX_INPUTS)]


class EmbeddingCreate(BaseModel):
    """The request; token-array inputs are not supported (no shared tokenizer)."""

    model_config = ConfigDict(extra="forbid")

    input: (
        EmbeddingText | Annotated[list[EmbeddingText], Field(min_length=1, max_length=MAX_INPUTS)]
    )
    model: str = Field(min_length=1, max_length=200)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, description="Must equal the model's dimension.")
    user: str | None = Field(None, max_length=200)


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 little-endian float32.")


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsPublic(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage
