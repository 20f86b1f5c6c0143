"""Similarity search over stored chunks: by text, or "more like this share", optionally hybrid.

- A text query is embedded with the embedder of the model whose vectors it is
  compared with (cosine distance between models means nothing).
- "More like this" uses the mean of the share's own chunk vectors, and leaves the
  share itself out of the results.
- Top-k comes from the model's partial HNSW index (``db.embeddings.knn``); with
  ``hybrid`` a Postgres full-text ranking is fused in by reciprocal rank fusion.
- By default each share appears once, with its best chunk, so ``k`` means k items.

``search`` runs in the caller's session: the route or command owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from bookmarkai_ml.db import embeddings as repo
from bookmarkai_ml.db.embeddings import ChunkHit, SearchFilters
from bookmarkai_ml.domain.rrf import reciprocal_rank_fusion
from bookmarkai_ml.errors import InvalidInputError, NotFoundError
from bookmarkai_ml.ports import Embedder, FloatArray

MAX_K = 100
#: Candidates fetched per result, so that per-share grouping still fills k results.
OVERSAMPLE = 4


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: the share, its best matching chunk, and where it is in the audio."""

    share_id: str
    chunk_index: int
    text: str
    score: float
    similarity: float | None
    content_kind: str
    source_kind: str | None
    start_s: float | None
    end_s: float | None
    created_at: datetime


def _hit(chunk: ChunkHit, score: float) -> SearchHit:
    similarity = None if chunk.distance is None else 1.0 - float(chunk.distance)
    return SearchHit(
        share_id=chunk.share_id,
        chunk_index=chunk.chunk_index,
        text=chunk.content,
        score=score,
        similarity=similarity,
        content_kind=chunk.content_kind,
        source_kind=chunk.source_kind,
        start_s=chunk.start_s,
        end_s=chunk.end_s,
        created_at=chunk.created_at,
    )


class SearchService:
    """Answers similarity queries; thread-safe (no state but the query embedders)."""

    def __init__(
        self,
        *,
        embedder_for_model: Callable[[str], Embedder],
        default_model: str,
        ef_search: int = 100,
    ) -> None:
        self._embedder_for_model = embedder_for_model
        self.default_model = default_model
        self.ef_search = ef_search

    def search(
        self,
        session: Session,
        query: str | None = None,
        *,
        like_share_id: str | None = None,
        tenant_id: str = "default",
        k: int = 10,
        model: str | None = None,
        filters: SearchFilters | None = None,
        hybrid: bool = False,
        per_share: bool = True,
    ) -> list[SearchHit]:
        """The ``k`` best matches for ``query`` or for the share ``like_share_id``.

        Reads through ``session``; the caller owns its transaction.

        Raises:
            InvalidInputError: neither or both of ``query``/``like_share_id``; bad ``k``.
            NotFoundError: ``like_share_id`` has no vectors of the model.
        """
        if (query is None or not query.strip()) == (like_share_id is None):
            raise InvalidInputError("give either a text query or like_share_id")
        if not 1 <= k <= MAX_K:
            raise InvalidInputError(f"k must be between 1 and {MAX_K}")
        filters = filters or SearchFilters()
        fetch = min(MAX_K * OVERSAMPLE, k * OVERSAMPLE if per_share else k)
        chosen = model or self._model_for(session, tenant_id)
        if like_share_id is not None:
            vector = self._share_vector(session, tenant_id, like_share_id, chosen)
            excluded = [*(filters.exclude_share_ids or ()), like_share_id]
            filters = replace(filters, exclude_share_ids=excluded)
        else:
            vector = self._embedder_for_model(chosen).embed([str(query)])[0]
        near = repo.knn(
            session,
            tenant_id=tenant_id,
            model=chosen,
            query=vector,
            k=fetch,
            filters=filters,
            ef_search=self.ef_search,
        )
        words: list[ChunkHit] = []
        if hybrid and query:
            words = repo.fulltext(
                session, tenant_id=tenant_id, model=chosen, query=query, k=fetch, filters=filters
            )
        if words:
            by_id = {c.id: c for c in [*words, *near]}  # near last: keeps its distance
            fused = reciprocal_rank_fusion([[c.id for c in near], [c.id for c in words]])
            ranked = [(by_id[i], score) for i, score in fused]
        else:
            ranked = [(c, 1.0 - float(c.distance or 0.0)) for c in near]
        hits: list[SearchHit] = []
        seen: set[str] = set()
        for chunk, score in ranked:
            if per_share and chunk.share_id in seen:
                continue
            seen.add(chunk.share_id)
            hits.append(_hit(chunk, score))
            if len(hits) == k:
                break
        return hits

    def _model_for(self, session: Session, tenant_id: str) -> str:
        """The default model if the tenant has its vectors, else the tenant's commonest."""
        stored = repo.stored_models(session, tenant_id=tenant_id)
        names = [m for m, _, _ in stored]
        if not names or self.default_model in names:
            return self.default_model
        return names[0]

    @staticmethod
    def _share_vector(session: Session, tenant_id: str, share_id: str, model: str) -> FloatArray:
        vectors = repo.share_vectors(session, tenant_id=tenant_id, share_id=share_id, model=model)
        if not len(vectors):
            raise NotFoundError(f"share {share_id!r} has no {model} vectors")
        mean = vectors.mean(axis=0)
        result: FloatArray = (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)
        return result
