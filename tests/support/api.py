"""Helpers shared by the API integration tests (imported as ``support.api``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy import Engine, text

from bookmarkai_ml.ports import FloatArray

MakeKey = Callable[..., str]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def counts(engine: Engine) -> tuple[int, int]:
    """(jobs, outbox rows) in the database."""
    with engine.connect() as conn:
        jobs: int = conn.execute(text("SELECT count(*) FROM ml_jobs")).scalar_one()
        outbox: int = conn.execute(text("SELECT count(*) FROM ml_outbox")).scalar_one()
    return int(jobs), int(outbox)


class HashEmbedder:
    """A deterministic ``ports.Embedder``: the route's contract, without a model."""

    provider = "test"
    model = "hash-embed-16"
    dimension = 16

    def embed(self, texts: Sequence[str]) -> FloatArray:
        rows = [np.frombuffer(t.encode().ljust(64, b"\0")[:64], dtype=np.uint8)[:16] for t in texts]
        vectors = np.asarray(rows, dtype=np.float32) + 1.0
        normed: FloatArray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return normed

    def count_tokens(self, text: str) -> int:
        return len(text.split())
